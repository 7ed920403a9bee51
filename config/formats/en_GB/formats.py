# British English shows the house style too (config/formats/en/formats.py).
from config.formats.en.formats import *  # noqa: F403
