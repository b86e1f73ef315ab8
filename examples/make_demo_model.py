"""Build a small int8 CNN (conv, depthwise-separable block, residual add, pooling, dense head)
with Keras and the TFLite converter, for the quick-start demo.

The weights are seeded random (training arrives with `edgeconv train`); calibration uses
seeded random data. Usage: python examples/make_demo_model.py OUT.tflite
"""

import sys

import numpy as np


def main(out: str) -> None:
    import tensorflow as tf

    tf.keras.utils.set_random_seed(0)
    layers = tf.keras.layers
    x = tf.keras.Input((32, 32, 3), batch_size=1)
    y = layers.Conv2D(16, 3, strides=2, padding="same", activation="relu")(x)
    z = layers.DepthwiseConv2D(3, padding="same", activation="relu")(y)
    z = layers.Conv2D(16, 1, activation="relu")(z)
    y = layers.Add()([y, z])
    y = layers.MaxPooling2D(2)(y)
    y = layers.Conv2D(32, 3, padding="valid", activation="relu")(y)
    y = layers.AveragePooling2D(6)(y)
    y = layers.Flatten()(y)
    y = layers.Dense(10)(y)
    y = layers.Softmax()(y)
    model = tf.keras.Model(x, y)

    rng = np.random.default_rng(0)

    def representative():
        for _ in range(64):
            yield [rng.uniform(-1, 1, size=(1, 32, 32, 3)).astype(np.float32)]

    conv = tf.lite.TFLiteConverter.from_keras_model(model)
    conv.optimizations = [tf.lite.Optimize.DEFAULT]
    conv.representative_dataset = representative
    conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    conv.inference_input_type = tf.int8
    conv.inference_output_type = tf.int8
    with open(out, "wb") as f:
        f.write(conv.convert())
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "demo.tflite")
