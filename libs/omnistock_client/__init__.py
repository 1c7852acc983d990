"""The Omnistock client for channels (storefront, app, POS, chat agents), the
CLI and the tests: one typed async client over the generated stubs.

    async with OmnistockClient.connect(settings, token=...) as client:
        levels = await client.call(client.inventory.GetStock, GetStockRequest(sku="SOFA-GREEN"))
"""

from omnistock_client.client import OmnistockClient, new_request_id

__all__ = ["OmnistockClient", "new_request_id"]
