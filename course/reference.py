"""The reference solution of the three exercises. Never released to students; only the judge
(course/judge.py), which runs outside students' kernels, builds these networks."""

import tensorflow as tf

layers = tf.keras.layers


def _conv(filters, kernel_size=3):
    return layers.Conv2D(filters, kernel_size, activation="relu", padding="same", kernel_initializer="he_normal")


def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):
    x = _conv(n_filters)(inputs)
    x = _conv(n_filters)(x)
    if dropout_prob > 0:
        x = layers.Dropout(dropout_prob)(x)
    skip_connection = x
    next_layer = layers.MaxPooling2D(2)(x) if max_pooling else x
    return next_layer, skip_connection


def upsampling_block(expansive_input, contractive_input, n_filters=32):
    up = layers.Conv2DTranspose(n_filters, 3, strides=2, padding="same")(expansive_input)
    x = layers.Concatenate(axis=3)([up, contractive_input])
    x = _conv(n_filters)(x)
    return _conv(n_filters)(x)


def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23, blocks=None):
    """`blocks` = (conv_block, upsampling_block) to build with, the reference ones by default."""
    encode, decode = blocks or (conv_block, upsampling_block)
    inputs = layers.Input(input_size)
    skips, x = [], inputs
    for level in range(5):
        x, skip = encode(x, n_filters * 2**level, 0.3 if level >= 3 else 0, level < 4)
        skips.append(skip)
    for level in (3, 2, 1, 0):
        x = decode(x, skips[level], n_filters * 2**level)
    x = _conv(n_filters)(x)
    return tf.keras.Model(inputs, layers.Conv2D(n_classes, 1, padding="same")(x))


FUNCTIONS = {"conv_block": conv_block, "upsampling_block": upsampling_block, "unet_model": unet_model}
