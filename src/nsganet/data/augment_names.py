"""The names of the training augmentations' choices, torch-free so settings and the command line can list them."""

#: random crops: zero-padded and cropped back, or random resized (:mod:`nsganet.data.policies`)
CROPS = ("pad", "resized")
#: what random erasing fills a box with: zeros, one normal colour per box, normal noise per pixel
ERASE_MODES = ("const", "rand", "pixel")
