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
  'dtmf.configure': {
    params: { endpointId: string; inband?: boolean };
    result: { endpointId: string; inband: boolean; telephoneEvent: boolean };
  };
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
