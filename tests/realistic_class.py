"""A class of independent correct solutions that share what real ones share, and planted copies.

Real students fill in the same scaffold, keep its comments, and pick among the same few
idioms (`n_filters * 2`, `cblock1[0]`, `Conv2D(n_filters, 3, ...)`); each still has a few
habits of their own (an explicit `strides=(1, 1)`, a fully qualified layer, an intermediate
name, a helper cell). Each solution here is drawn choice by choice: at every place where
solutions differ, a popular way with high probability and a long tail of rarer ones, so
that independent students share most of their code and little of what is rare.

    independent_class(101, seed=0) -> {student: {part: source}}
    planted_copies(students, rng) -> ({copy: {part: source}}, [(original, copy, how)])
"""

import random
import re

# Each choice: [(weight, text)]; a student draws once per choice and uses it throughout.
CHOICES = {
    "filters": [(88, "{f}"), (10, "filters={f}"), (2, "int({f})")],
    "kernel": [(75, "3"), (15, "(3, 3)"), (12, "kernel_size=3"), (8, "kernel_size=(3, 3)")],
    "activation": [(80, 'activation="relu"'), (8, "activation=tf.nn.relu"), (4, "activation=tf.keras.activations.relu")],
    "initializer": [(70, 'kernel_initializer="he_normal"'), (15, "kernel_initializer=tf.keras.initializers.HeNormal()"),
                    (8, 'kernel_initializer="HeNormal"'), (4, "kernel_initializer=tf.keras.initializers.he_normal()")],
    "layer": [(85, "Conv2D"), (10, "tf.keras.layers.Conv2D"), (3, "layers.Conv2D")],
    "extra_conv": [(85, ""), (5, "strides=(1, 1)"), (4, "use_bias=True"), (3, "strides=1"), (3, "dilation_rate=1")],
    "dropout_if": [(80, "dropout_prob > 0"), (10, "dropout_prob"), (8, "dropout_prob != 0"), (5, "dropout_prob > 0.0"),
                   (2, "dropout_prob is not None and dropout_prob > 0")],
    "dropout": [(80, "Dropout({p})"), (12, "Dropout(rate={p})"), (5, "tf.keras.layers.Dropout({p})")],
    "pool": [(75, "MaxPooling2D(pool_size=(2, 2))"), (10, "MaxPooling2D((2, 2))"), (12, "MaxPooling2D(2)"),
             (8, "MaxPooling2D(pool_size=2)"), (5, "MaxPool2D(pool_size=(2, 2))"),
             (3, "MaxPooling2D(pool_size=(2, 2), strides=(2, 2))"), (2, "tf.keras.layers.MaxPooling2D(2, 2)")],
    "pool_style": [(85, "if_else"), (10, "default_then_if"), (5, "ternary")],
    "transpose": [(80, "Conv2DTranspose({f}, 3, strides=(2, 2), padding=\"same\")"),
                  (8, "Conv2DTranspose({f}, (3, 3), strides=(2, 2), padding=\"same\")"),
                  (15, "Conv2DTranspose({f}, 3, strides=2, padding=\"same\")"),
                  (6, "Conv2DTranspose(filters={f}, kernel_size=(3, 3), strides=(2, 2), padding=\"same\")"),
                  (4, "tf.keras.layers.Conv2DTranspose({f}, 3, strides=(2, 2), padding=\"same\")")],
    "concat": [(80, "concatenate([{a}, {b}], axis=3)"), (10, "Concatenate(axis=3)([{a}, {b}])"),
               (12, "concatenate([{a}, {b}], axis=-1)"), (5, "Concatenate()([{a}, {b}])"),
               (3, "tf.concat([{a}, {b}], axis=3)")],
    "blocks": [(85, "index"), (8, "unpack"), (4, "loop"), (3, "index_named")],
    "double": [(85, "{f} * {k}"), (8, "{k} * {f}"), (8, "{f} * 2 ** {e}"), (7, "{f} * {k}")],
    "dropout_arg": [(85, "dropout_prob=0.3"), (12, "0.3"), (3, "dropout_prob=0.30")],
    "pool_arg": [(85, "max_pooling=False"), (15, "False")],
    "head": [(80, 'Conv2D(n_classes, 1, padding="same")'), (10, 'Conv2D(n_classes, (1, 1), padding="same")'),
             (12, "Conv2D(n_classes, kernel_size=1)"), (8, 'Conv2D(n_classes, 1, padding="same", activation=None)')],
    "other": [(45, ""), (30, "unet = unet_model()\nunet.summary()"), (8, "print(unet_model().count_params())"),
              (7, "x = Input((96, 128, 3))\nprint(conv_block(x, 32))"), (5, "model = unet_model((96, 128, 3))\n"
              "model.summary(line_length=120)"), (5, "import numpy as np\nprint(np.__version__)")],
}
# Cells of the students' own that many of them have: the original course's notebook, which
# most took before, kept or pasted in, each cell by most students, with their own numbers.
COMMON_CELLS = [
    "import os\nimport numpy as np\nimport pandas as pd\nimport imageio\nimport matplotlib.pyplot as plt\n"
    "from tensorflow.keras.layers import Input, Conv2D, MaxPooling2D, Dropout, Conv2DTranspose, concatenate",
    "path = ''\nimage_path = os.path.join(path, './data/CameraRGB/')\nmask_path = os.path.join(path, './data/CameraMask/')\n"
    "image_list_orig = os.listdir(image_path)\nimage_list = [image_path + i for i in image_list_orig]\n"
    "mask_list = [mask_path + i for i in image_list_orig]",
    "N = {n}\nimg = imageio.imread(image_list[N])\nmask = imageio.imread(mask_list[N])\n"
    "fig, arr = plt.subplots(1, 2, figsize=(14, 10))\narr[0].imshow(img)\narr[0].set_title('Image')\n"
    "arr[1].imshow(mask[:, :, 0])\narr[1].set_title('Segmentation')",
    "def display(display_list):\n    plt.figure(figsize=(15, 15))\n    title = ['Input Image', 'True Mask', "
    "'Predicted Mask']\n    for i in range(len(display_list)):\n        plt.subplot(1, len(display_list), i + 1)\n"
    "        plt.title(title[i])\n        plt.imshow(tf.keras.preprocessing.image.array_to_img(display_list[i]))\n"
    "        plt.axis('off')\n    plt.show()",
    "img_height = 96\nimg_width = 128\nnum_channels = 3\nunet = unet_model((img_height, img_width, num_channels))\n"
    "unet.summary()",
    "unet.compile(optimizer='adam',\n             loss=tf.keras.losses.SparseCategoricalCrossentropy(from_logits=True),\n"
    "             metrics=['accuracy'])",
    "EPOCHS = {epochs}\nVAL_SUBSPLITS = 5\nBUFFER_SIZE = 500\nBATCH_SIZE = {batch}\n"
    "train_dataset = processed_image_ds.cache().shuffle(BUFFER_SIZE).batch(BATCH_SIZE)\n"
    "model_history = unet.fit(train_dataset, epochs=EPOCHS)",
    "def create_mask(pred_mask):\n    pred_mask = tf.argmax(pred_mask, axis=-1)\n"
    "    pred_mask = pred_mask[..., tf.newaxis]\n    return pred_mask[0]",
    "plt.plot(model_history.history['accuracy'])\nplt.xlabel('epoch')\nplt.ylabel('accuracy')",
]
NAMES = ["conv", "x", "c", "layer", "out", "h", "net", "t", "y", "feat"]
SCAFFOLD = "    # YOUR CODE HERE\n"


def _draw(rng, choice):
    weights, texts = zip(*CHOICES[choice])
    return rng.choices(texts, weights)[0]


class Student:
    def __init__(self, rng):
        self.rng = rng
        self.pick = {choice: _draw(rng, choice) for choice in CHOICES}
        self.name = rng.choice(NAMES)
        self.comments = rng.random() < 0.6  # keeps the scaffold's comment, adds some of their own

    def conv(self, filters, source):
        p = self.pick
        kernel = p["kernel"] if "=" in p["kernel"] or "=" not in p["filters"] else f"kernel_size={p['kernel']}"
        args = [p["filters"].format(f=filters), kernel, p["activation"], 'padding="same"', p["initializer"]]
        if p["extra_conv"]:
            args.append(p["extra_conv"])
        if not p["filters"].startswith("filters") and self.rng.random() < 0.15:
            args[2:] = sorted(args[2:])  # the keyword arguments in another order
        return f"{p['layer']}({', '.join(args)})({source})"

    def comment(self, text):
        return f"    # {text}\n" if self.comments and self.rng.random() < 0.5 else ""

    def conv_block(self):
        p, x = self.pick, self.name
        body = SCAFFOLD if self.comments else ""
        body += self.comment("two 3x3 convolutions with ReLU and He initialisation")
        body += f"    {x} = {self.conv('n_filters', 'inputs')}\n    {x} = {self.conv('n_filters', x)}\n"
        body += self.comment("dropout only when a rate is given")
        body += f"    if {p['dropout_if']}:\n        {x} = {p['dropout'].format(p='dropout_prob')}({x})\n"
        pool = f"{p['pool']}({x})"
        if p["pool_style"] == "if_else":
            body += f"    if max_pooling:\n        next_layer = {pool}\n    else:\n        next_layer = {x}\n"
        elif p["pool_style"] == "default_then_if":
            body += f"    next_layer = {x}\n    if max_pooling:\n        next_layer = {pool}\n"
        else:
            body += f"    next_layer = {pool} if max_pooling else {x}\n"
        body += f"    skip_connection = {x}\n"
        return ("def conv_block(inputs=None, n_filters=32, dropout_prob=0, max_pooling=True):\n"
                + body + "    return next_layer, skip_connection\n")

    def upsampling_block(self):
        p, x = self.pick, self.name
        up = "up" if x != "up" else "u"
        body = SCAFFOLD if self.comments else ""
        body += f"    {up} = {p['transpose'].format(f='n_filters')}(expansive_input)\n"
        body += self.comment("merge with the skip connection")
        body += f"    merge = {p['concat'].format(a=up, b='contractive_input')}\n"
        body += f"    conv = {self.conv('n_filters', 'merge')}\n    conv = {self.conv('n_filters', 'conv')}\n"
        return ("def upsampling_block(expansive_input, contractive_input, n_filters=32):\n"
                + body + "    return conv\n")

    def times(self, k):
        if k == 1:
            return "n_filters"
        return self.pick["double"].format(f="n_filters", k=k, e=k.bit_length() - 1)

    def unet_model(self):
        p = self.pick
        body = "    inputs = Input(input_size)\n" + (SCAFFOLD if self.comments else "")
        drop, nopool = p["dropout_arg"], p["pool_arg"]
        if p["blocks"] == "loop":
            body += ("    skips = []\n    x = inputs\n    for level in range(4):\n"
                     "        x, skip = conv_block(x, n_filters * 2 ** level, 0.3 if level == 3 else 0)\n"
                     "        skips.append(skip)\n"
                     f"    x, _ = conv_block(x, n_filters * 16, {drop}, {nopool})\n"
                     "    for level in reversed(range(4)):\n"
                     "        x = upsampling_block(x, skips[level], n_filters * 2 ** level)\n"
                     f"    x = {self.conv('n_filters', 'x')}\n    outputs = {p['head']}(x)\n")
            return self._unet(body)
        if p["blocks"] == "unpack":
            block, down, skip, up = (lambda n: f"c{n}, s{n}" if n < 5 else "c5, _"), "c{}".format, "s{}".format, \
                "u{}".format
        else:
            c = "cblock" if p["blocks"] == "index" else "enc"
            block, down, skip, up = f"{c}{{}}".format, f"{c}{{}}[0]".format, f"{c}{{}}[1]".format, "ublock{}".format
        body += f"    {block(1)} = conv_block(inputs, n_filters)\n"
        for level, k in ((2, 2), (3, 4)):
            body += f"    {block(level)} = conv_block({down(level - 1)}, {self.times(k)})\n"
        body += f"    {block(4)} = conv_block({down(3)}, {self.times(8)}, {drop})\n"
        body += f"    {block(5)} = conv_block({down(4)}, {self.times(16)}, {drop}, {nopool})\n"
        body += self.comment("the expanding path")
        body += f"    {up(6)} = upsampling_block({down(5)}, {skip(4)}, {self.times(8)})\n"
        for level, k, below in ((7, 4, 3), (8, 2, 2), (9, 1, 1)):
            body += f"    {up(level)} = upsampling_block({up(level - 1)}, {skip(below)}, {self.times(k)})\n"
        last = up(9)
        body += f"    conv9 = {self.conv('n_filters', last)}\n    outputs = {p['head']}(conv9)\n"
        return self._unet(body)

    @staticmethod
    def _unet(body):
        return ("def unet_model(input_size=(96, 128, 3), n_filters=32, n_classes=23):\n" + body
                + "    model = tf.keras.Model(inputs=inputs, outputs=outputs)\n    return model\n")

    def other_cells(self):
        """Cells of their own: most kept the original course's cells (each with 80%), some
        wrote a check of their own."""
        kept = self.rng.random() < 0.85
        cells = [cell.format(n=self.rng.randint(0, 60), epochs=self.rng.choice([5, 10, 20, 40]),
                             batch=self.rng.choice([16, 32, 64]))
                 for cell in COMMON_CELLS if kept and self.rng.random() < 0.8]
        return "\n\n".join(cells + ([self.pick["other"]] if self.pick["other"] else []))

    def code(self):
        return {"conv_block": self.conv_block(), "upsampling_block": self.upsampling_block(),
                "unet_model": self.unet_model(), "other cells": self.other_cells()}


def independent_class(size, seed=0):
    """{student: {part: source}}: `size` students who each wrote their own correct solution."""
    rng = random.Random(seed)
    return {f"student{n:03d}": Student(rng).code() for n in range(size)}


HELPER = '''def count_layers(model):
    """How many layers of each kind the model has."""
    kinds = {}
    for layer in model.layers:
        kinds[type(layer).__name__] = kinds.get(type(layer).__name__, 0) + 1
    for kind, number in sorted(kinds.items()):
        print(f"{kind:20s} {number}")
    return kinds
'''


def _rename(source, rng):
    names = sorted(set(re.findall(r"\b(conv|x|c|layer|out|h|net|t|y|feat|up|merge|skips|level|ublock\d|cblock\d|enc\d|"
                                  r"c\d|s\d|u\d|conv9)\b", source)))
    for name in names:
        source = re.sub(rf"\b{name}\b", f"{name}_{rng.randint(10, 99)}", source)
    return source


def _swap_pool_and_skip(source):
    """`skip_connection = x` moved before the pooling: the same code, reordered."""
    lines = source.splitlines(keepends=True)
    skip = next(i for i, line in enumerate(lines) if "skip_connection =" in line)
    pool = next(i for i, line in enumerate(lines) if "next_layer" in line and "=" in line)
    lines.insert(pool, lines.pop(skip))
    return "".join(lines)


def planted_copies(students, rng):
    """Copies of some students' code, each changed in one way a copier would: ({copy: code},
    [(original, copy, how)])."""
    # A copied notebook carries all its cells: the originals are students with cells of their
    # own beside the functions (three or more). A copy of the solution many wrote alike, with
    # nothing else, cannot be told from those many, and is not planted.
    originals = rng.sample(sorted(s for s, code in students.items() if code["other cells"].count("\n\n") >= 2), 5)
    copies, planted = {}, []

    def add(original, how, code):
        name = f"copy_{how}"
        copies[name] = code
        planted.append((original, name, how))

    code = students[originals[0]]
    add(originals[0], "renamed", {part: _rename(source, rng) for part, source in code.items()})
    code = students[originals[1]]
    add(originals[1], "reordered", dict(code, conv_block=_swap_pool_and_skip(code["conv_block"])))
    code = students[originals[2]]
    add(originals[2], "comments", {part: re.sub(r"#.*", "# my own note", source) + ("\n# done\n" if source else "")
                                   for part, source in code.items()})
    code = students[originals[3]]
    add(originals[3], "one_bug", dict(code, unet_model=code["unet_model"].replace("conv_block(inputs, n_filters)",
                                                                                    "conv_block(inputs, n_filters * 2)")))
    # A helper cell pasted between two students whose functions are their own.
    students[originals[4]] = dict(students[originals[4]], **{"other cells": HELPER})
    add(originals[4], "helper", dict(Student(rng).code(), **{"other cells": HELPER.replace("kinds", "found")}))
    return copies, planted
