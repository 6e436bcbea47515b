"""The bottom layer: what every other package may use and which imports nothing of the library.

- `validation`: argument checks raising Keras-style `ValueError`s (`check_int`, `check_float`, `check_choice`).
- `optional`: `require`, the one way to import a module of an optional extra (says which `pip install` to run).
- `contracts`: the declared interfaces (`typing.Protocol`) callbacks ask of a model.
"""
