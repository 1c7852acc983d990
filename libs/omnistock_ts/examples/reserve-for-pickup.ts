// Find a SKU in stock near a customer and reserve it for pickup at the nearest store that has it.
//   OMNISTOCK_TOKEN=$(omnistock token --role storefront) node dist/examples/reserve-for-pickup.js SOFA-VELVET-GREEN
// Prints the reservation as one JSON line; exits 1 (with Connect's code and message) when refused.
import { randomUUID } from "node:crypto";

import { Channel, Code, ConnectError, FulfilmentMethod, omnistock, type ServiceName } from "../src/index.js";

const sku = process.argv[2] ?? "SOFA-VELVET-GREEN";
const customer = { latitude: 52.52, longitude: 13.405 }; // Berlin
const urls: Partial<Record<ServiceName, string>> = {
  inventory: process.env.OMNISTOCK_INVENTORY_URL,
  reservations: process.env.OMNISTOCK_RESERVATIONS_URL,
};
const api = omnistock({ token: process.env.OMNISTOCK_TOKEN ?? "", urls });

try {
  const { locations } = await api.inventory.findAvailability({
    items: [{ sku, quantity: 1n }],
    channel: Channel.WEB,
    near: customer,
    radiusKm: 50,
    method: FulfilmentMethod.PICKUP,
    completeOnly: true,
  });
  const nearest = locations[0];
  if (!nearest?.location) {
    console.error(`no store within 50 km has ${sku}`);
    process.exit(1);
  }
  const { reservation } = await api.reservations.createReservation({
    requestId: randomUUID(),
    channel: Channel.WEB,
    storeId: nearest.location.locationId,
    customer: { customerId: "C-4711", name: "Ada", email: "ada@example.com" },
    lines: [{ sku, quantity: 1n }],
  });
  console.log(
    JSON.stringify({
      store: nearest.location.locationId,
      distanceKm: nearest.distanceKm,
      available: Number(nearest.levels[0]?.available ?? 0n),
      reservationId: reservation?.reservationId,
      pickupCode: reservation?.pickupCode,
      expiresAt: reservation?.expiresAt ? new Date(Number(reservation.expiresAt.seconds) * 1000).toISOString() : null,
    }),
  );
} catch (error) {
  const refused = ConnectError.from(error);
  console.error(`${Code[refused.code]}: ${refused.rawMessage}`);
  process.exit(1);
}
