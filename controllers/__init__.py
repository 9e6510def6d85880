from . import main
from . import threepl
