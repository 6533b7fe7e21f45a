"""What a person reads: charts, sequence diagrams and the stories of messages."""
