// Formatting: money arrives as JSON numbers of USD and is held as integer
// nano-USD; durations arrive in milliseconds (analytics, generations) or
// nanoseconds (live provider stats).

/** nano converts a USD JSON number to integer nano-USD. */
export const nano = (usd) => Math.round(Number(usd || 0) * 1e9);

/**
 * usd renders nano-USD: two decimals from $100 up, else up to six,
 * trailing zeros trimmed to at least two.
 */
export function usd(n) {
  if (!n) return '$0.00';
  const neg = n < 0;
  let a = Math.abs(n);
  let s;
  if (a >= 100e9) {
    s = (Math.round(a / 1e7) / 100).toLocaleString('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  } else {
    const whole = Math.floor(a / 1e9);
    const micro = Math.round((a % 1e9) / 1e3); // 6 decimals
    let w = whole, m = micro;
    if (m === 1e6) { w += 1; m = 0; }
    let frac = String(m).padStart(6, '0').replace(/0+$/, '');
    if (frac.length < 2) frac = frac.padEnd(2, '0');
    s = w.toLocaleString('en-US') + '.' + frac;
  }
  return (neg ? '-$' : '$') + s;
}

/** int renders a count with thousands separators. */
export const int = (v) => Math.round(Number(v || 0)).toLocaleString('en-US');

/** compact renders a count as 1.2k, 3.4M. */
export function compact(v) {
  v = Number(v || 0);
  const a = Math.abs(v);
  if (a >= 1e9) return (v / 1e9).toFixed(1).replace(/\.0$/, '') + 'B';
  if (a >= 1e6) return (v / 1e6).toFixed(1).replace(/\.0$/, '') + 'M';
  if (a >= 1e4) return (v / 1e3).toFixed(1).replace(/\.0$/, '') + 'k';
  return int(v);
}

/** ms renders milliseconds. */
export function ms(v) {
  v = Number(v || 0);
  if (!v) return '–';
  if (v >= 10000) return (v / 1000).toFixed(1) + ' s';
  if (v >= 1000) return (v / 1000).toFixed(2) + ' s';
  if (v >= 100) return Math.round(v) + ' ms';
  return v.toFixed(1) + ' ms';
}

/** pct renders a ratio in [0, 1]. */
export function pct(r) {
  r = Number(r || 0);
  if (!r) return '0%';
  if (r < 0.001) return '<0.1%';
  return (r * 100).toFixed(r < 0.1 ? 1 : 0) + '%';
}

/** ago renders a number of seconds in the past. */
export function ago(sec) {
  sec = Number(sec || 0);
  if (sec < 1) return 'now';
  if (sec < 90) return Math.round(sec) + ' s ago';
  if (sec < 5400) return Math.round(sec / 60) + ' min ago';
  return Math.round(sec / 3600) + ' h ago';
}

/** until renders an RFC 3339 time as seconds from now, or "" if past. */
export function until(t) {
  if (!t || t.startsWith('0001-')) return '';
  const d = (Date.parse(t) - Date.now()) / 1000;
  if (!(d > 0)) return '';
  return d < 90 ? Math.ceil(d) + ' s' : Math.ceil(d / 60) + ' min';
}

/** time renders a bucket start for an axis or a table. */
export function bucketLabel(t, gran, spanMs) {
  const d = new Date(t);
  const hh = String(d.getHours()).padStart(2, '0');
  const mm = String(d.getMinutes()).padStart(2, '0');
  const day = `${d.getMonth() + 1}/${d.getDate()}`;
  if (gran === 'day') return day;
  if (spanMs > 26 * 3600e3) return `${day} ${hh}:${mm}`;
  return `${hh}:${mm}`;
}
