"""The Omnistock benchmark: the real stack started for the run, loaded from several client
processes, every figure reported next to ceilings measured in the same run."""
