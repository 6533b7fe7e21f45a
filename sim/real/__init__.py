"""Real brokers on this machine, driven by the scenario's workload and faults in real time.

The layer between the study (which compares) and the engine (whose figures code the real runs
share): :mod:`sim.real.servers` starts and always stops the broker processes,
:mod:`sim.real.support` says what a broker can reproduce of a scenario,
:mod:`sim.real.injection` draws the faults from the simulator's seeded streams,
:mod:`sim.real.producing` runs the producers, :mod:`sim.real.effects` is the SQLite effect
store, :mod:`sim.real.record` turns what was watched into the engine's per-message facts,
:mod:`sim.real.harness` is what every broker's harness does alike, one harness per broker and
pattern (:mod:`sim.real.nats_harness`, :mod:`sim.real.redis_harness`,
:mod:`sim.real.redis_groups`) runs the consumers, and :mod:`sim.real.runs` puts one run and
the latency warm-up together.
"""
