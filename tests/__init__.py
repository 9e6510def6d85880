from . import test_atp_stock_states
from . import test_buffer_rules
from . import test_constraints
from . import test_demo_data
from . import test_marking
from . import test_order_intake
from . import test_publication
from . import test_security
