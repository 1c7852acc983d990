// The storefront's only code: Connect calls from the browser (JSON unary POSTs, and WatchStock as a
// Connect server stream of enveloped JSON messages), with the page's bearer token.
const config = JSON.parse(document.getElementById("config").textContent);
const rows = new Map(); // location id -> {available, cells}

function headers(contentType) {
  return {
    "content-type": contentType,
    "connect-protocol-version": "1",
    authorization: `Bearer ${config.token}`,
  };
}

async function call(service, method, request) {
  const answer = await fetch(`${config.urls[service]}/${method}`, {
    method: "POST",
    headers: headers("application/json"),
    body: JSON.stringify(request),
  });
  const body = await answer.json();
  if (!answer.ok) throw Object.assign(new Error(body.message || answer.statusText), { code: body.code });
  return body;
}

function envelope(message) {
  const json = new TextEncoder().encode(JSON.stringify(message));
  const framed = new Uint8Array(5 + json.length);
  new DataView(framed.buffer).setUint32(1, json.length);
  framed.set(json, 5);
  return framed;
}

// Each message of a Connect server stream: a flags byte, a 4-byte length, the JSON message. The last
// one (flags & 2) ends the stream, with an error when the server ended it with one.
async function* stream(service, method, request) {
  const answer = await fetch(`${config.urls[service]}/${method}`, {
    method: "POST",
    headers: headers("application/connect+json"),
    body: envelope(request),
  });
  if (!answer.ok) throw new Error(`${method}: HTTP ${answer.status}`);
  const reader = answer.body.getReader();
  let buffer = new Uint8Array(0);
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return;
    const joined = new Uint8Array(buffer.length + value.length);
    joined.set(buffer);
    joined.set(value, buffer.length);
    buffer = joined;
    while (buffer.length >= 5) {
      const size = new DataView(buffer.buffer, buffer.byteOffset).getUint32(1);
      if (buffer.length < 5 + size) break;
      const flags = buffer[0];
      const message = JSON.parse(new TextDecoder().decode(buffer.subarray(5, 5 + size)));
      buffer = buffer.subarray(5 + size);
      if (flags & 2) {
        if (message.error) throw new Error(message.error.message || message.error.code);
        return;
      }
      yield message;
    }
  }
}

function show(locationId) {
  const row = rows.get(locationId);
  row.cells.available.textContent = String(row.available);
  const button = row.cells.button;
  if (row.available > 0) {
    button.textContent = "Reserve for pickup";
    button.disabled = false;
  } else {
    button.textContent = "Sold out";
    button.disabled = true;
  }
}

function status(text) {
  document.getElementById("status").textContent = text;
}

async function reserve(locationId, name) {
  const button = rows.get(locationId).cells.button;
  button.disabled = true;
  try {
    const { reservation } = await call("reservations", "omnistock.reservations.v1.ReservationsService/CreateReservation", {
      requestId: crypto.randomUUID(),
      channel: "CHANNEL_WEB",
      storeId: locationId,
      customer: config.customer,
      lines: [{ sku: config.sku, quantity: 1 }],
    });
    status(`Reserved at ${name}: pickup code ${reservation.pickupCode}`);
  } catch (error) {
    status(`Not reserved: ${error.message}`);
    show(locationId);
  }
}

async function load() {
  document.getElementById("sku").textContent = config.sku;
  document.getElementById("radius").textContent = String(config.radiusKm);
  const { sku } = await call("inventory", "omnistock.inventory.v1.InventoryService/GetSku", { sku: config.sku });
  document.getElementById("title").textContent = sku.title;
  const { locations = [] } = await call("inventory", "omnistock.inventory.v1.InventoryService/FindAvailability", {
    items: [{ sku: config.sku, quantity: 1 }],
    channel: "CHANNEL_WEB",
    near: config.near,
    radiusKm: config.radiusKm,
    method: "FULFILMENT_METHOD_PICKUP",
  });
  const body = document.getElementById("stores");
  body.replaceChildren();
  for (const found of locations) {
    const location = found.location;
    const level = (found.levels || []).find((each) => each.sku === config.sku) || {};
    const tr = document.createElement("tr");
    tr.dataset.location = location.locationId;
    const cells = { name: document.createElement("td"), distance: document.createElement("td"),
      available: document.createElement("td"), action: document.createElement("td") };
    cells.name.textContent = location.name;
    cells.distance.textContent = `${(found.distanceKm || 0).toFixed(1)} km`;
    cells.available.className = "available";
    cells.button = document.createElement("button");
    cells.button.addEventListener("click", () => reserve(location.locationId, location.name));
    cells.action.append(cells.button);
    tr.append(cells.name, cells.distance, cells.available, cells.action);
    body.append(tr);
    rows.set(location.locationId, { available: Number(level.available || 0), cells });
    show(location.locationId);
  }
  if (!locations.length) {
    body.innerHTML = '<tr><td colspan="4">No store near you has it.</td></tr>';
    return;
  }
  watch([...rows.keys()]);
}

// Live stock: every change at these stores arrives as it happens; a dropped stream starts again.
async function watch(locationIds) {
  for (;;) {
    try {
      const changes = stream("inventory", "omnistock.inventory.v1.InventoryService/WatchStock", {
        skus: [config.sku], locationIds, channel: "CHANNEL_WEB",
      });
      for await (const message of changes) {
        for (const level of message.levels || []) {
          if (level.sku !== config.sku || !rows.has(level.locationId)) continue;
          rows.get(level.locationId).available = Number(level.available || 0);
          show(level.locationId);
        }
        document.body.dataset.live = "true";
      }
    } catch (error) {
      document.body.dataset.live = "false";
    }
    await new Promise((resume) => setTimeout(resume, 1000));
  }
}

load().catch((error) => status(`The shop could not load: ${error.message}`));
