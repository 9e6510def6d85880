from . import stock_channel_simulate_order
