from odoo.tests import HttpCase, tagged

# Wait until the view shows ``selector``, then report success; a JavaScript
# error while rendering (e.g. in a kanban template) fails the test.
WAIT_FOR = """
const wait = () => document.querySelector(%r)
    ? console.log('test successful') : setTimeout(wait, 100);
wait();
"""


@tagged("post_install", "-at_install")
class TestBackendViews(HttpCase):
    """The monitoring screens open in a real browser without errors."""

    def _open(self, path, selector):
        self.browser_js(path, WAIT_FOR % selector, login="admin", timeout=60)

    def test_health_dashboard(self):
        """One card per channel, coloured by state."""
        if not self.env.ref(
            "stock_channel_sync.demo_channel_webstore", raise_if_not_found=False
        ):
            self.skipTest("database installed without demo data")
        action = self.env.ref("stock_channel_sync.stock_channel_health_action")
        self._open(f"/odoo/action-{action.id}", ".o_kanban_record .border-4 .badge")

    def test_discrepancies_and_channel_form(self):
        action = self.env.ref("stock_channel_sync.stock_channel_discrepancy_action")
        self._open(f"/odoo/action-{action.id}", ".o_list_view")
        channel = self.env["stock.channel"].search([], limit=1)
        if channel:
            channels = self.env.ref("stock_channel_sync.stock_channel_action")
            self._open(
                f"/odoo/action-{channels.id}/{channel.id}",
                ".o_form_view .o_notebook",
            )
