/** `dtmf.*`: digits sent to an endpoint (RFC 4733 or in-band) and key presses it receives. */

export type DtmfSource = 'rfc4733' | 'inband';
export type DtmfMethod = 'rfc4733' | 'inband';

export interface DtmfSendResult {
  digits: string;
  method: DtmfMethod;
}

export interface DtmfRequests {
  /** Resolves once the last digit went out. */
  'dtmf.send': { params: { endpointId: string; digits: string; durationMs?: number }; result: DtmfSendResult };
  /** Abandons what is being sent. */
  'dtmf.stop': { params: { endpointId: string }; result: { ok: true } };
  /**
   * `inband`: true listens in-band always, false never; null returns to DTMF_INBAND's default (in
   * 'auto': only while something consumes the endpoint's digits). `inband` in the result: whether
   * in-band detection runs now (or will, once media is negotiated).
   */
  'dtmf.configure': {
    params: { endpointId: string; inband?: boolean | null };
    result: { endpointId: string; inband: boolean; telephoneEvent: boolean };
  };
  /**
   * The control plane has (`on`) or no longer has listeners for the endpoint's key presses (a
   * flow, an API caller waiting for a digit): a digit consumer for DTMF_INBAND=auto.
   */
  'dtmf.listen': { params: { endpointId: string; on: boolean }; result: { ok: true } };
}

/** One key press received on an endpoint, reported once when it ends. */
export type DtmfPressed = {
  endpointId: string;
  digit: string;
  source: DtmfSource;
  durationMs: number;
};

export interface DtmfNotifications {
  'endpoint.dtmf': DtmfPressed;
}
