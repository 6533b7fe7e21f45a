"""Studies: replications of every point of a sweep, on any executor, in tidy tables and files."""
