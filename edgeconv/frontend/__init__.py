"""Reading: the .tflite into the IR (`ir`, `reader`), the board profile (`boards`), names, labels, and
what TFLite's Prepare computes before any kernel runs: shapes (`shapes`), structural op checks (`opchecks`),
constant folding (`folding`, `slicing`). Imports nothing else of edgeconv but its services."""
