from . import stock_channel_simulate_order
from . import stock_return_picking
from . import stock_channel_simulate_return
from . import stock_channel_threepl_upload_edi
from . import stock_channel_supplier_feed_upload
from . import stock_channel_replay
