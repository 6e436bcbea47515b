"""The bottom layer: what every other package may use; it imports nothing else of the library.

- `validation`: argument checks raising Keras-style `ValueError`s (`check_int`, `check_float`, `check_choice`).
- `optional`: `require`, the one way to import a module of an optional extra (says which `pip install` to run).
- `contracts`: the declared interfaces (`typing.Protocol`) callbacks ask of a model.
- `files`: `write_atomically`, a file written through a temporary file and a rename.
- `run_lock`: `RunDirLock`, the lock a run holds on its directory (the holder's PID; a dead holder's is taken over).
- `replicas`: what a train step needs to know about its `tf.distribute` strategy.
- `defaults`: names and defaults shared by several layers and the command line (`N_CRITIC`, `MODELS`, …),
  importable without TensorFlow.
"""
