from . import atp
from . import buffer
from . import signatures
