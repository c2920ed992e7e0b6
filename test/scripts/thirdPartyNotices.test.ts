import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { renderNotices } from '../../scripts/thirdPartyNotices.ts';

test('THIRD_PARTY_NOTICES.md lists every production dependency of package-lock.json (run `npm run notices` after a change)', () => {
  const committed = fs.readFileSync(new URL('../../THIRD_PARTY_NOTICES.md', import.meta.url), 'utf8');
  assert.equal(committed, renderNotices());
  assert.match(committed, /\*\*espeak-ng\*\* [\d.]+: GPL-3\.0/);
  assert.match(committed, /\*\*@breezystack\/lamejs\*\* [\d.]+: LGPL-3\.0/);
});
