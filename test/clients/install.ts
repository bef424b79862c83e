// Global set-up of the client tests: the pinned agents, installed into .cache/clients unless
// already there (a warm npm cache makes a fresh install take seconds).
import { CLIENTS, installClient } from './clients.js';

export default async function setup() {
  for (const client of Object.values(CLIENTS)) await installClient(client);
}
