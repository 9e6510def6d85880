from . import main
from . import threepl
from . import supplier_feed
