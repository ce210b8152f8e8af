//! Workloads: the study's experiments, the malloc benchmark, trace replay.
