"""The Customer 360 marts: pure transforms over the star's DataFrames.

Each module declares its ``TABLE`` (c360.registry); the model step builds it from the star
as built in the same run and publishes it behind its quality gate.
"""
