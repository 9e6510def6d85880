from . import stock_channel
from . import stock_channel_listing
from . import stock_channel_buffer_rule
from . import stock_location
from . import stock_quant
from . import stock_move
from . import product_product
from . import product_template
