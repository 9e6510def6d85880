from . import atp
from . import buffer
