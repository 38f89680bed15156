/**
 * Features a configuration can ask for, and which of them this build lacks: such a
 * configuration is accepted (so one written today keeps working) and main logs the
 * missing features once as "not available yet" instead of failing start-up.
 */
import { parseI2cSpec } from '../i2c.ts';
import { parseLinkSpec, type LinkSpec } from '../link.ts';
import type { ResolvedConfig } from './schema.ts';


/** The parts of the firmware a configuration can ask for. */
export const Feature = {
  LINK_SIM: 'link.sim',
  LINK_PACKET: 'link.packet',
  LINK_TAP: 'link.tap',
  LINK_IP: 'link.ip',
  DHCP: 'dhcp',
  LEDS_VIRTUAL: 'leds.virtual',
  LEDS_GPIO: 'leds.gpio',
  LEDS_SYSFS: 'leds.sysfs',
  I2C_SIM: 'i2c.sim',
  I2C_REPLAY: 'i2c.replay',
  I2C_BUS: 'i2c.bus',
  SENSORS: 'sensors',
  SENSOR_STORE: 'store',
  SHELL: 'shell',
  SHELL_TLS: 'shell.tls',
  DIAG: 'diag',
} as const;
export type Feature = (typeof Feature)[keyof typeof Feature];

const LINK_FEATURES: Readonly<Record<LinkSpec['kind'], Feature>> = {
  sim: Feature.LINK_SIM,
  packet: Feature.LINK_PACKET,
  tap: Feature.LINK_TAP,
  ip: Feature.LINK_IP,
};

/** Every feature this configuration uses. */
export function usedFeatures(config: ResolvedConfig): Feature[] {
  const link = parseLinkSpec(config.link);
  const i2c = parseI2cSpec(config.i2c.bus);
  const used: Feature[] = [];
  if (link) used.push(LINK_FEATURES[link.kind]);
  if (config.net.ip === 'dhcp') used.push(Feature.DHCP);
  used.push(config.leds.driver === 'gpio' ? Feature.LEDS_GPIO : config.leds.driver === 'sysfs' ? Feature.LEDS_SYSFS : Feature.LEDS_VIRTUAL);
  if (i2c?.kind === 'sim') used.push(i2c.file === undefined ? Feature.I2C_SIM : Feature.I2C_REPLAY);
  if (i2c?.kind === 'bus') used.push(Feature.I2C_BUS);
  used.push(Feature.SENSORS, Feature.SENSOR_STORE, Feature.SHELL, Feature.SHELL_TLS);
  if (config.services.diag) used.push(Feature.DIAG);
  return used;
}

/**
 * Features the configuration asks for that this build does not have yet: accepted
 * (so a configuration written today keeps working), and logged once by main as
 * "not available yet" rather than failing start-up.
 */
export function unavailableFeatures(config: ResolvedConfig, implemented: ReadonlySet<Feature>): Feature[] {
  return usedFeatures(config).filter((feature) => !implemented.has(feature));
}

