/** @odoo-module **/
/*
 * What an inventory manager does first with Channel Stock Sync: create a
 * sandbox channel, pick its warehouse, list a product, keep a safety buffer,
 * read the available-to-sell figure, publish, and (second tour, once the
 * publication job ran) read the published quantity on the sandbox shelf.
 * Run by tests/test_onboarding_tour.py in headless Chromium.
 */
import { registry } from "@web/core/registry";

const WAREHOUSE_TAGS = "div[name=warehouse_ids]";

registry.category("web_tour.tours").add("stock_channel_sync_onboarding", {
    url: "/odoo/action-stock_channel_sync.stock_channel_action",
    steps: () => [
        {
            content: "Create a channel",
            trigger: ".o_list_button_add",
            run: "click",
        },
        {
            content: "Name it",
            trigger: ".o_field_widget[name=name] input",
            run: "edit Tour Shop",
        },
        {
            content: "Give it the code marketplaces will call",
            trigger: ".o_field_widget[name=code] input",
            run: "edit tour-shop",
        },
        {
            content: "A sandbox: no marketplace needed",
            trigger: ".o_field_widget[name=adapter] select",
            run: 'select "sandbox"',
        },
        {
            content: "Jobs and orders run as the technical user",
            trigger: ".o_field_widget[name=user_id] input",
            run: "edit Tour Bot",
        },
        {
            trigger: ".o-autocomplete--dropdown-item a:contains(Tour Bot)",
            run: "click",
        },
        {
            content: "Clear the default warehouses (every warehouse of the company)",
            trigger: `${WAREHOUSE_TAGS} .o_delete`,
            async run() {
                let remove = document.querySelector(`${WAREHOUSE_TAGS} .o_delete`);
                while (remove) {
                    remove.click();
                    await new Promise((resolve) => setTimeout(resolve, 100));
                    remove = document.querySelector(`${WAREHOUSE_TAGS} .o_delete`);
                }
            },
        },
        {
            content: "Pick the warehouse this channel sells from",
            trigger: `${WAREHOUSE_TAGS} input`,
            run: "edit Tour Warehouse",
        },
        {
            trigger: ".o-autocomplete--dropdown-item a:contains(Tour Warehouse)",
            run: "click",
        },
        {
            trigger: `${WAREHOUSE_TAGS} .o_tag:contains(Tour Warehouse)`,
        },
        {
            content: "List a product",
            trigger: "div[name=listing_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: "div[name=listing_ids] .o_data_row [name=product_id] input",
            run: "edit Tour Widget",
        },
        {
            trigger: ".o-autocomplete--dropdown-item a:contains(Tour Widget)",
            run: "click",
        },
        {
            content: "Its SKU defaults to the internal reference",
            trigger: "div[name=listing_ids] .o_data_row [name=external_sku] input:value(TOUR-WIDGET)",
        },
        {
            content: "Save the channel",
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Every unit in the warehouse is available to sell",
            trigger: ".o_form_saved div[name=listing_ids] td[name=atp_qty]:contains(50)",
        },
        {
            content: "Keep a safety buffer",
            trigger: "a.nav-link:contains(Buffer Rules)",
            run: "click",
        },
        {
            trigger: "div[name=buffer_rule_ids] .o_field_x2many_list_row_add a",
            run: "click",
        },
        {
            trigger: "div[name=buffer_rule_ids] .o_data_row [name=buffer_value] input",
            run: "edit 5",
        },
        {
            trigger: ".o_form_button_save",
            run: "click",
        },
        {
            content: "Back to the listings",
            trigger: ".o_form_saved a.nav-link:contains(Listings)",
            run: "click",
        },
        {
            content: "The available-to-sell figure keeps the buffer back",
            trigger: "div[name=listing_ids] td[name=atp_qty]:contains(45)",
        },
        {
            content: "Publish now",
            trigger: "button[name=action_publish_now]",
            run: "click",
        },
        {
            trigger: ".o_notification:contains(Publication queued)",
        },
    ],
});

registry.category("web_tour.tours").add("stock_channel_sync_onboarding_shelf", {
    url: "/odoo/action-stock_channel_sync.stock_channel_action",
    steps: () => [
        {
            content: "Open the channel",
            trigger: ".o_data_row td[name=name]:contains(Tour Shop)",
            run: "click",
        },
        {
            content: "What the sandbox marketplace shows",
            trigger: "button[name=action_view_shelf]",
            run: "click",
        },
        {
            content: "The published quantity is on the shelf",
            trigger: ".o_data_row:contains(TOUR-WIDGET) td[name=quantity]:contains(45)",
        },
    ],
});
