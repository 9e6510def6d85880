"""What one channel unit of a listing sells for, to put a price on the
units an alert or a digest says are at risk."""


def listing_unit_prices(env, listings):
    """``{listing id: price of one channel unit}``: the channel's pricelist
    when it has one, else the product's sales price, times the pack size.
    One pricelist computation per channel, whatever the number of listings."""
    prices = {}
    for channel in listings.channel_id:
        channel_listings = listings.filtered(lambda lst, c=channel: lst.channel_id == c)
        products = channel_listings.product_id
        if channel.pricelist_id:
            product_prices = channel.pricelist_id._get_products_price(products, 1.0)
        else:
            product_prices = {product.id: product.lst_price for product in products}
        for listing in channel_listings:
            prices[listing.id] = (
                product_prices.get(listing.product_id.id, 0.0) * listing.pack_size
            )
    return prices
