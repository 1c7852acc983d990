// Typed clients of every Omnistock service over Connect (HTTP/1.1, JSON or binary), with a bearer
// token on each call. The message and service types are generated from protos/ by `make proto`.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";

import { FulfilmentService } from "../gen/omnistock/fulfilment/v1/fulfilment_pb.js";
import { InsightsService } from "../gen/omnistock/insights/v1/insights_pb.js";
import { InventoryService } from "../gen/omnistock/inventory/v1/inventory_pb.js";
import { OrdersService } from "../gen/omnistock/orders/v1/orders_pb.js";
import { ReservationsService } from "../gen/omnistock/reservations/v1/reservations_pb.js";
import { WebhooksService } from "../gen/omnistock/webhooks/v1/webhooks_pb.js";

export * from "../gen/omnistock/common/v1/common_pb.js";
export * as inventory from "../gen/omnistock/inventory/v1/inventory_pb.js";
export * as reservations from "../gen/omnistock/reservations/v1/reservations_pb.js";
export * as orders from "../gen/omnistock/orders/v1/orders_pb.js";
export * as fulfilment from "../gen/omnistock/fulfilment/v1/fulfilment_pb.js";
export * as insights from "../gen/omnistock/insights/v1/insights_pb.js";
export * as webhooks from "../gen/omnistock/webhooks/v1/webhooks_pb.js";
export { ConnectError, Code } from "@connectrpc/connect";

/** Where each service serves Connect: the defaults of `omnistock up` (OMNISTOCK_<SERVICE>_CONNECT_PORT). */
export const DEFAULT_URLS = {
  inventory: "http://127.0.0.1:51051",
  reservations: "http://127.0.0.1:51052",
  orders: "http://127.0.0.1:51053",
  fulfilment: "http://127.0.0.1:51054",
  insights: "http://127.0.0.1:51055",
  webhooks: "http://127.0.0.1:51056",
};

export type ServiceName = keyof typeof DEFAULT_URLS;

export interface Options {
  /** A bearer JWT (`omnistock token --role storefront`). */
  token: string;
  /** Service base URLs; those not given are the local defaults. */
  urls?: Partial<Record<ServiceName, string>>;
  /** Binary protobuf instead of JSON on the wire. */
  binary?: boolean;
}

export interface Omnistock {
  inventory: Client<typeof InventoryService>;
  reservations: Client<typeof ReservationsService>;
  orders: Client<typeof OrdersService>;
  fulfilment: Client<typeof FulfilmentService>;
  insights: Client<typeof InsightsService>;
  webhooks: Client<typeof WebhooksService>;
}

export function omnistock(options: Options): Omnistock {
  const bearer: Interceptor = (next) => async (request) => {
    request.header.set("authorization", `Bearer ${options.token}`);
    return next(request);
  };
  const transport = (service: ServiceName) =>
    createConnectTransport({
      baseUrl: options.urls?.[service] ?? DEFAULT_URLS[service],
      httpVersion: "1.1",
      useBinaryFormat: options.binary ?? false,
      interceptors: [bearer],
    });
  return {
    inventory: createClient(InventoryService, transport("inventory")),
    reservations: createClient(ReservationsService, transport("reservations")),
    orders: createClient(OrdersService, transport("orders")),
    fulfilment: createClient(FulfilmentService, transport("fulfilment")),
    insights: createClient(InsightsService, transport("insights")),
    webhooks: createClient(WebhooksService, transport("webhooks")),
  };
}
