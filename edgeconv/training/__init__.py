"""The front half: data sets (`datasets`), the Keras model zoo (`zoo`), training (`train`) and the
demo that runs every step (`demo`). Needs the `train` extra."""
