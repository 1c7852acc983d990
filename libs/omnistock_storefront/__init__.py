"""A storefront product page that calls the services from the browser over Connect: stock per
nearby store, live, and a reserve-for-pickup button per store. A demo of what a web shop builds on
the Connect ports (docs/connect.md), served by `omnistock up`."""
