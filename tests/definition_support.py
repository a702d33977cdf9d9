"""Projects with block definitions for the tests: a torchvision-style BasicBlock ResNet, nested blocks."""

from __future__ import annotations

from graph.model import Block, Definition, Edge, ExposedParam, Network, Project


def chain(net: Network, ids: list[str]) -> None:
    for a, b in zip(ids, ids[1:]):
        net.connect(Edge(a, b, "x"))


def basic_block(name: str = "BasicBlock", downsample: bool = False) -> Definition:
    """conv1-bn1-relu-conv2-bn2 (+ x, or + downsample(x)) -relu: torchvision's BasicBlock."""
    body = Network(name)
    add = body.add_block
    add(Block("x", "PortInput", "x"))
    add(Block("conv1", "Conv2d", "conv1", {"channels": 16, "kernel_size": 3, "padding": 1, "bias": False}))
    add(Block("bn1", "BatchNorm2d", "bn1"))
    add(Block("relu", "ReLU", "relu"))
    add(Block("conv2", "Conv2d", "conv2", {"channels": 16, "kernel_size": 3, "padding": 1, "bias": False}))
    add(Block("bn2", "BatchNorm2d", "bn2"))
    add(Block("add", "Add", "add"))
    add(Block("relu2", "ReLU", "relu2"))
    add(Block("out", "PortOutput", "out"))
    chain(body, ["x", "conv1", "bn1", "relu", "conv2", "bn2"])
    body.connect(Edge("bn2", "add", "in1"))
    binds = {"channels": ("conv1.channels", "conv2.channels")}
    if downsample:  # torchvision's downsample = nn.Sequential(conv1x1, bn), written downsample.0, .1
        add(Block("down", "Conv2d", "downsample.0", {"channels": 16, "kernel_size": 1, "stride": 2,
                                                     "bias": False}))
        add(Block("down_bn", "BatchNorm2d", "downsample.1"))
        chain(body, ["x", "down", "down_bn"])
        body.connect(Edge("down_bn", "add", "in2"))
    else:
        body.connect(Edge("x", "add", "in2"))
    chain(body, ["add", "relu2", "out"])
    params = [ExposedParam("channels", 16, binds["channels"])]
    if downsample:
        params[0] = ExposedParam("channels", 16, ("conv1.channels", "conv2.channels", "down.channels"))
        params.append(ExposedParam("stride", 2, ("conv1.stride", "down.stride")))
        body.blocks["conv1"].params["stride"] = 2
    return Definition(name, body, params)


def downsample() -> Definition:
    """A 1x1 strided convolution and a batch norm: the shortcut of a block that changes size."""
    body = Network("Downsample")
    body.add_block(Block("x", "PortInput", "x"))
    body.add_block(Block("conv", "Conv2d", "conv", {"channels": 16, "kernel_size": 1, "stride": 2,
                                                    "bias": False}))
    body.add_block(Block("bn", "BatchNorm2d", "bn"))
    body.add_block(Block("out", "PortOutput", "out"))
    chain(body, ["x", "conv", "bn", "out"])
    return Definition("Downsample", body, [ExposedParam("channels", 16, ("conv.channels",)),
                                            ExposedParam("stride", 2, ("conv.stride",))])


def resnet_project(widths: tuple[int, ...] = (8, 16)) -> Project:
    """stem conv-bn-relu, then per width: a block (a DownBlock when the width grows) and a BasicBlock,
    named layerN.0 and layerN.1 as torchvision names them; global pooling and a linear classifier."""
    net = Network("model")
    add = net.add_block
    add(Block("in", "ImageInput", "image", {"channels": 3, "height": 16, "width": 16}))
    add(Block("conv1", "Conv2d", "conv1", {"channels": widths[0], "kernel_size": 3, "padding": 1,
                                           "bias": False}))
    add(Block("bn1", "BatchNorm2d", "bn1"))
    add(Block("relu", "ReLU", "relu"))
    ids = ["in", "conv1", "bn1", "relu"]
    previous = widths[0]
    for i, width in enumerate(widths, start=1):
        for j in range(2):
            bid = f"l{i}_{j}"
            if j == 0 and width != previous:
                add(Block(bid, "DownBlock", f"layer{i}.{j}", {"channels": width, "stride": 2}))
            else:
                add(Block(bid, "BasicBlock", f"layer{i}.{j}", {"channels": width}))
            ids.append(bid)
        previous = width
    add(Block("pool", "GlobalAvgPool", "avgpool"))
    add(Block("fc", "Linear", "fc", {"features": 10}))
    add(Block("head", "ClassificationHead", "head", {"classes": 10}))
    ids += ["pool", "fc", "head"]
    chain(net, ids)
    project = Project("ResNet", [net])
    for definition in (basic_block(), basic_block("DownBlock", downsample=True)):
        project.definitions.add(definition)
    project.link()
    return project
