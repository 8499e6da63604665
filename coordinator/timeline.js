/* The script of zdag's timeline page (coordinator/timeline.html, which CMake fills in): draws
 * the report in the zdag-report element, and exports what it drew as window.zdagTimeline. */
(function () {
  'use strict';
  var loadStart = performance.now();
  var T = window.zdagTimeline = {ready: false};
  var $ = function (id) { return document.getElementById(id); };

  /* ---- The report, and one bar per attempt ---------------------------------------------- */
  var R = JSON.parse($('zdag-report').textContent);
  var nodes = Array.isArray(R.nodes) ? R.nodes : [];
  var N = nodes.length;
  var index = new Map();
  nodes.forEach(function (n, i) { index.set(n.name, i); });

  /* Bar classes, in drawing order; every attempt outcome maps to one. */
  var CLASSES = [
    {key: 'ok', label: 'succeeded', color: '#66bb6a', ink: '#0d2b10'},
    {key: 'retried', label: 'retried', color: '#ffa726', ink: '#3b2300'},
    {key: 'failed', label: 'failed', color: '#e53935', ink: '#fff'},
    {key: 'lost', label: 'lost', color: '#8e24aa', ink: '#fff'},
    {key: 'cancelled', label: 'interrupted', color: '#b0bec5', ink: '#1f2a30'},
    {key: 'running', label: 'running', color: '#64b5f6', ink: '#0b2540'},
    {key: 'other', label: 'other', color: '#a1887f', ink: '#24160f'}
  ];
  function classOf(outcome, later) {
    if (outcome === 'succeeded') return 0;
    if (outcome === 'failed' || outcome === 'timed out') return later ? 1 : 2;
    if (outcome === 'lost' || outcome === 'fenced') return 3;
    if (outcome === 'interrupted' || outcome === 'cancelled') return 4;
    if (outcome === 'running') return 5;
    return 6;
  }
  function num(v) { return typeof v === 'number' && isFinite(v) ? v : null; }

  /* A node's attempts: its history, or for a report without one its last attempt. */
  function attemptsOf(n) {
    if (Array.isArray(n.history)) return n.history;
    if (num(n.start_s) === null) return [];
    return [{attempt: n.attempts || 1, host: n.host, executor: n.executor, ready_s: null,
             start_s: n.start_s, end_s: n.end_s, outcome: n.status}];
  }

  var wall = num(R.wall_s) || 0, M = 0, unplaced = 0;
  nodes.forEach(function (n) { M += attemptsOf(n).length; });
  var bNode = new Int32Array(M), bTry = new Int32Array(M), bLane = new Int32Array(M);
  var bCls = new Uint8Array(M), bStart = new Float64Array(M), bEnd = new Float64Array(M);
  var bReady = new Float64Array(M), painted = new Uint8Array(M);
  var laneOf = new Map(), laneKeys = [];
  var maxEnd = wall, m = 0;
  nodes.forEach(function (n, i) {
    var h = attemptsOf(n);
    for (var k = 0; k < h.length; k++) {
      var a = h[k], s = num(a.start_s);
      if (s === null) { unplaced++; continue; }
      var e = num(a.end_s), key = String(a.host) + '\n' + String(a.executor);
      if (!laneOf.has(key)) { laneOf.set(key, -1); laneKeys.push([a.host, a.executor, key]); }
      var outcome = e === null ? 'running' : a.outcome;
      bNode[m] = i; bTry[m] = k; bStart[m] = s; bEnd[m] = e === null ? Math.max(wall, s) : e;
      bReady[m] = num(a.ready_s) === null ? NaN : a.ready_s;
      bCls[m] = classOf(outcome, k + 1 < h.length);
      bLane[m] = -1;
      if (bEnd[m] > maxEnd) maxEnd = bEnd[m];
      m++;
    }
  });
  M = m; /* attempts that have a start */

  /* Lanes: one per executor, grouped by host (hosts and executors in natural order). */
  var collator = new Intl.Collator(undefined, {numeric: true});
  laneKeys.sort(function (x, y) {
    return collator.compare(String(x[0]), String(y[0])) || (Number(x[1]) - Number(y[1]));
  });
  var lanes = laneKeys.map(function (k, i) {
    laneOf.set(k[2], i);
    return {host: k[0] === null || k[0] === undefined ? '?' : String(k[0]), executor: k[1]};
  });
  var L = lanes.length, hosts = [];
  lanes.forEach(function (l, i) {
    if (!hosts.length || hosts[hosts.length - 1].name !== l.host)
      hosts.push({name: l.host, first: i, count: 0, busy: 0, attempts: 0});
    hosts[hosts.length - 1].count++;
    l.group = hosts.length - 1;
  });
  var byLane = [], byClass = [];
  for (var li = 0; li < L; li++) byLane.push([]);
  CLASSES.forEach(function () { byClass.push([]); });
  var firstStart = Infinity;
  for (m = 0; m < M; m++) {
    var hist = attemptsOf(nodes[bNode[m]]), at = hist[bTry[m]];
    bLane[m] = laneOf.get(String(at.host) + '\n' + String(at.executor));
    byLane[bLane[m]].push(m);
    byClass[bCls[m]].push(m);
    var g = hosts[lanes[bLane[m]].group];
    g.busy += bEnd[m] - bStart[m];
    g.attempts++;
    if (bStart[m] < firstStart) firstStart = bStart[m];
  }
  byLane = byLane.map(function (a) {
    a.sort(function (x, y) { return bStart[x] - bStart[y]; });
    return Int32Array.from(a);
  });
  byClass = byClass.map(function (a) { return Int32Array.from(a); });
  var span = M ? maxEnd - firstStart : 0;

  /* Per node: its bars, its last end, its dependents. */
  var nodeBars = [], lastEnd = new Float64Array(N).fill(-1), firstBar = new Int32Array(N).fill(-1);
  for (var i = 0; i < N; i++) nodeBars.push(null);
  for (m = 0; m < M; m++) {
    var ni = bNode[m];
    (nodeBars[ni] || (nodeBars[ni] = [])).push(m);
    if (bEnd[m] > lastEnd[ni]) lastEnd[ni] = bEnd[m];
    if (firstBar[ni] < 0 || bStart[m] < bStart[firstBar[ni]]) firstBar[ni] = m;
  }
  function depsOf(i) {
    var d = nodes[i].deps, out = [];
    if (!Array.isArray(d)) return out;
    for (var k = 0; k < d.length; k++) {
      var j = index.get(d[k]);
      if (j !== undefined) out.push(j);
    }
    return out;
  }
  var dependents = null; /* built on first use: 100,000 nodes need not pay for it */
  function dependentsOf(i) {
    if (!dependents) {
      dependents = [];
      for (var k = 0; k < N; k++) dependents.push(null);
      for (k = 0; k < N; k++)
        depsOf(k).forEach(function (j) { (dependents[j] || (dependents[j] = [])).push(k); });
    }
    return dependents[i] || [];
  }

  /* The critical path: from the node that ended last, back through the dep that ended last
   * before it, as long as there is one (what held each node back the longest). */
  var critical = [], onCritical = new Uint8Array(N);
  (function () {
    var cur = -1;
    for (var k = 0; k < N; k++) if (lastEnd[k] >= 0 && (cur < 0 || lastEnd[k] > lastEnd[cur])) cur = k;
    while (cur >= 0 && !onCritical[cur]) {
      critical.push(cur);
      onCritical[cur] = 1;
      var best = -1;
      depsOf(cur).forEach(function (j) {
        if (lastEnd[j] >= 0 && (best < 0 || lastEnd[j] > lastEnd[best])) best = j;
      });
      cur = best;
    }
    critical.reverse();
  })();

  /* ---- Formatting ------------------------------------------------------------------------ */
  function fmt(s) {
    if (s === null || s === undefined || isNaN(s)) return '\u2013';
    var a = Math.abs(s);
    if (a < 5e-7) return '0 s';
    if (a < 1e-3) return (s * 1e6).toFixed(0) + ' \u00b5s';
    if (a < 1) return (s * 1e3).toFixed(a < 0.01 ? 2 : a < 0.1 ? 1 : 0) + ' ms';
    if (a < 60) return s.toFixed(a < 10 ? 2 : 1) + ' s';
    if (a < 3600) return Math.floor(s / 60) + ' m ' + ('0' + Math.floor(s % 60)).slice(-2) + ' s';
    return Math.floor(s / 3600) + ' h ' + ('0' + Math.floor((s % 3600) / 60)).slice(-2) + ' m';
  }
  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }
  function nodeLink(i) {
    return '<a class="node" data-node="' + i + '">' + esc(nodes[i].name) + '</a>';
  }
  function dot(c) { return '<i class="dot" style="background:' + CLASSES[c].color + '"></i>'; }
  function where(m) {
    var l = lanes[bLane[m]];
    return esc(l.host) + ' #' + esc(l.executor);
  }
  function outcomeOf(m) {
    var a = attemptsOf(nodes[bNode[m]])[bTry[m]];
    return num(a.end_s) === null ? 'running' : String(a.outcome);
  }

  /* ---- Summary, tables -------------------------------------------------------------------- */
  function card(k, v, s) {
    return '<div class="card"><div class="k">' + k + '</div><div class="v">' + v +
           '</div><div class="s">' + (s || '&nbsp;') + '</div></div>';
  }
  function counts(list, key) {
    var c = {};
    list.forEach(function (x) { var k = key(x); c[k] = (c[k] || 0) + 1; });
    return Object.keys(c).sort(function (a, b) { return c[b] - c[a]; })
      .map(function (k) { return c[k] + ' ' + esc(k); }).join(', ');
  }
  function summary() {
    $('pipeline').textContent = R.pipeline ? String(R.pipeline) : '';
    var st = $('status');
    st.textContent = String(R.status || 'unknown');
    st.className = 'badge ' + String(R.status || '');
    if (R.error) $('run-error').textContent = 'error: ' + String(R.error);
    var perClass = CLASSES.map(function (c, k) { return byClass[k].length; });
    var critBusy = 0;
    critical.forEach(function (i) {
      (nodeBars[i] || []).forEach(function (b) { critBusy += bEnd[b] - bStart[b]; });
    });
    var html = card('Makespan', fmt(span || wall), 'wall ' + fmt(wall) +
                    (R.started_at ? ' from ' + esc(String(R.started_at).replace('T', ' ')) : ''));
    html += card('Nodes', N.toLocaleString('en'), counts(nodes, function (n) { return n.status; }));
    html += card('Attempts', M.toLocaleString('en'),
                 CLASSES.map(function (c, k) {
                   return perClass[k] ? perClass[k] + ' ' + c.label : '';
                 }).filter(Boolean).join(', '));
    html += card('Hosts', String(hosts.length), L + ' executor' + (L === 1 ? '' : 's') +
                 (R.jobs ? ', -j ' + esc(R.jobs) : ''));
    html += card('Critical path', critical.length + ' node' + (critical.length === 1 ? '' : 's'),
                 fmt(critBusy) + ' running of ' + fmt(span || wall));
    html += card('Exit status', esc(R.exit_code === undefined ? '?' : R.exit_code), '');
    $('summary').innerHTML = html;
    $('legend').innerHTML = CLASSES.map(function (c, k) {
      return perClass[k] ? '<span><i style="background:' + c.color + '"></i>' + c.label + ' (' +
                           perClass[k].toLocaleString('en') + ')</span>' : '';
    }).join('') + (critical.length ? '<span><i class="crit"></i>critical path</span>' : '');
  }

  /* The k largest of bars by value (NaN left out), largest first. */
  function top(k, value) {
    var best = [];
    for (var b = 0; b < M; b++) {
      var v = value(b);
      if (isNaN(v)) continue;
      if (best.length < k || v > value(best[best.length - 1])) {
        best.push(b);
        best.sort(function (x, y) { return value(y) - value(x); });
        if (best.length > k) best.pop();
      }
    }
    return best;
  }
  function tables() {
    var dur = function (b) { return bEnd[b] - bStart[b]; };
    var slow = top(15, dur), rows = '';
    slow.forEach(function (b) {
      var n = nodes[bNode[b]];
      rows += '<tr class="pick" data-bar="' + b + '"><td>' + dot(bCls[b]) + nodeLink(bNode[b]) +
              '</td><td class="n">' + fmt(dur(b)) + '</td><td class="n">' + (bTry[b] + 1) + '/' +
              attemptsOf(n).length + '</td><td>' + where(b) + '</td><td>' + esc(outcomeOf(b)) +
              '</td></tr>';
    });
    $('slowest').innerHTML = '<tr><th>node</th><th class="n">took</th><th class="n">attempt</th>' +
      '<th>host #executor</th><th>outcome</th></tr>' +
      (rows || '<tr><td class="muted" colspan="5">no attempt ran</td></tr>');
    var wait = function (b) { return bStart[b] - bReady[b]; };
    rows = '';
    top(15, wait).forEach(function (b) {
      rows += '<tr class="pick" data-bar="' + b + '"><td>' + dot(bCls[b]) + nodeLink(bNode[b]) +
              '</td><td class="n">' + fmt(wait(b)) + '</td><td class="n">' + fmt(bReady[b]) +
              '</td><td class="n">' + fmt(bStart[b]) + '</td><td class="n">' + (bTry[b] + 1) +
              '</td><td>' + where(b) + '</td></tr>';
    });
    $('waits').innerHTML = '<tr><th>node</th><th class="n">waited</th><th class="n">ready</th>' +
      '<th class="n">started</th><th class="n">attempt</th><th>host #executor</th></tr>' +
      (rows || '<tr><td class="muted" colspan="6">no attempt has a ready time</td></tr>');
    rows = '';
    hosts.forEach(function (h) {
      var use = span > 0 ? h.busy / (h.count * span) : 0;
      rows += '<tr><td>' + esc(h.name) + '</td><td class="n">' + h.count + '</td><td class="n">' +
              h.attempts.toLocaleString('en') + '</td><td class="n">' + fmt(h.busy) +
              '</td><td class="n">' + (100 * use).toFixed(0) + ' %</td></tr>';
    });
    $('hosts').innerHTML = '<tr><th>host</th><th class="n">executors</th><th class="n">attempts' +
      '</th><th class="n">busy</th><th class="n">busy of makespan</th></tr>' +
      (rows || '<tr><td class="muted" colspan="5">no host ran anything</td></tr>');
    var crit = critical.map(function (i) {
      var b = firstBar[i];
      return '<tr class="pick" data-bar="' + b + '"><td>' + nodeLink(i) + '</td><td class="n">' +
             fmt(bStart[b]) + '</td><td class="n">' + fmt(lastEnd[i]) + '</td><td class="n">' +
             fmt(lastEnd[i] - bStart[b]) + '</td><td class="n">' + nodeBars[i].length +
             '</td></tr>';
    });
    var shown = crit.length > 40 ? crit.slice(0, 20).concat(
      ['<tr><td class="muted" colspan="5">&hellip; ' + (crit.length - 40) + ' more</td></tr>'],
      crit.slice(-20)) : crit;
    $('critical').innerHTML = crit.length ? '<table><tr><th>node</th><th class="n">start</th>' +
      '<th class="n">end</th><th class="n">took</th><th class="n">attempts</th></tr>' +
      shown.join('') + '</table>' : '<p class="muted">no attempt ran</p>';
  }

  /* ---- The chart ------------------------------------------------------------------------- */
  var canvas = $('chart'), ctx = canvas.getContext('2d'), wrap = $('chart-wrap'), tip = $('tip');
  var AXIS = 26, laneH = Math.max(8, Math.min(34, Math.floor(300 / Math.max(1, L))));
  var gutter = 120, W = 0, H = 0, dpr = 1;
  var full = [Math.min(0, firstStart === Infinity ? 0 : firstStart), (maxEnd || 1) * 1.02];
  var view = {t0: full[0], t1: full[1], y: 0};
  var selected = -1, hoverBar = -1;

  function layout() {
    dpr = window.devicePixelRatio || 1;
    W = Math.max(300, wrap.clientWidth);
    var want = AXIS + Math.max(1, L) * laneH + 6;
    H = Math.min(want, Math.max(220, Math.floor(window.innerHeight * 0.62)));
    canvas.width = Math.round(W * dpr);
    canvas.height = Math.round(H * dpr);
    canvas.style.height = H + 'px';
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.font = '600 12px system-ui, "DejaVu Sans", sans-serif';
    var wide = 0;
    hosts.forEach(function (h) { wide = Math.max(wide, ctx.measureText(h.name).width); });
    gutter = Math.round(Math.min(260, Math.max(110, wide + 58)));
    clampView();
  }
  function plotW() { return W - gutter; }
  function lanesH() { return H - AXIS; }
  function clampView() {
    var len = Math.max(1e-6, Math.min(view.t1 - view.t0, (full[1] - full[0]) * 4));
    view.t1 = view.t0 + len;
    view.y = Math.max(0, Math.min(view.y, L * laneH - lanesH() + 6));
  }
  function xOf(t) { return gutter + (t - view.t0) * plotW() / (view.t1 - view.t0); }
  function tOf(x) { return view.t0 + (x - gutter) * (view.t1 - view.t0) / plotW(); }
  function yOf(lane) { return AXIS + lane * laneH - view.y; }

  function niceStep(len, px) {
    var raw = len / Math.max(1, px / 90), p = Math.pow(10, Math.floor(Math.log10(raw)));
    var steps = [1, 2, 5, 10], k = 0;
    while (steps[k] * p < raw) k++;
    return steps[k] * p;
  }
  function drawAxis() {
    var step = niceStep(view.t1 - view.t0, plotW());
    ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
    ctx.textBaseline = 'middle';
    ctx.textAlign = 'center';
    for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
      var x = Math.round(xOf(t)) + 0.5, label = fmt(Math.abs(t) < step / 1e6 ? 0 : t);
      var half = ctx.measureText(label).width / 2;
      ctx.strokeStyle = '#e6e9ed';
      ctx.beginPath(); ctx.moveTo(x, AXIS); ctx.lineTo(x, H); ctx.stroke();
      ctx.fillStyle = '#656d76';
      ctx.fillText(label, Math.min(Math.max(x, gutter + half + 2), W - half - 2), AXIS / 2);
    }
    ctx.strokeStyle = '#d0d7de';
    ctx.beginPath(); ctx.moveTo(gutter, AXIS - 0.5); ctx.lineTo(W, AXIS - 0.5); ctx.stroke();
  }
  function drawLanes() {
    for (var l = 0; l < L; l++) {
      var y = yOf(l);
      if (y + laneH < AXIS || y > H) continue;
      ctx.fillStyle = lanes[l].group % 2 ? (l % 2 ? '#f3f5f8' : '#eef1f5')
                                         : (l % 2 ? '#fafbfc' : '#ffffff');
      ctx.fillRect(gutter, y, plotW(), laneH);
    }
  }
  function drawBars() {
    painted.fill(0);
    var drawn = 0, pad = laneH > 12 ? 3 : 1, h = laneH - 2 * pad, k = plotW() / (view.t1 - view.t0);
    var labels = [];
    for (var c = 0; c < CLASSES.length; c++) {
      var list = byClass[c];
      ctx.fillStyle = CLASSES[c].color;
      for (var j = 0; j < list.length; j++) {
        var b = list[j], x0 = gutter + (bStart[b] - view.t0) * k,
            x1 = gutter + (bEnd[b] - view.t0) * k, y = AXIS + bLane[b] * laneH - view.y + pad;
        if (x1 < gutter || x0 > W || y + h < AXIS || y > H) continue;
        if (x0 < gutter - 1) x0 = gutter - 1;
        if (x1 > W + 1) x1 = W + 1;
        ctx.fillRect(x0, y, Math.max(1, x1 - x0), h);
        painted[b] = 1;
        drawn++;
        if (x1 - x0 > 34 && h >= 12 && labels.length < 4000) labels.push(b, x0, x1, y);
      }
    }
    drawLabels(labels, h);
    return drawn;
  }
  /* The node's name (and attempt) inside bars wide enough for some of it. */
  function drawLabels(labels, h) {
    ctx.font = '600 11px system-ui, "DejaVu Sans", sans-serif';
    ctx.textAlign = 'left';
    ctx.textBaseline = 'middle';
    for (var k = 0; k < labels.length; k += 4) {
      var b = labels[k], x0 = Math.max(labels[k + 1], gutter), x1 = labels[k + 2];
      var text = nodes[bNode[b]].name + (bTry[b] ? ' #' + (bTry[b] + 1) : '');
      var room = x1 - x0 - 8;
      if (room < 16) continue;
      if (ctx.measureText(text).width > room) {
        while (text.length > 1 && ctx.measureText(text + '\u2026').width > room)
          text = text.slice(0, -1);
        text += '\u2026';
      }
      ctx.fillStyle = CLASSES[bCls[b]].ink;
      ctx.fillText(text, x0 + 4, labels[k + 3] + h / 2 + 0.5);
    }
  }
  function barRect(b) {
    var pad = laneH > 12 ? 3 : 1, x0 = xOf(bStart[b]), x1 = xOf(bEnd[b]);
    return {x: x0, y: yOf(bLane[b]) + pad, w: Math.max(1, x1 - x0), h: laneH - 2 * pad};
  }
  function outline(list, color, width) {
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    list.forEach(function (b) {
      var r = barRect(b);
      if (r.x + r.w < gutter || r.x > W) return;
      ctx.strokeRect(r.x - width / 2, r.y - width / 2, r.w + width, r.h + width);
    });
    ctx.lineWidth = 1;
  }
  /* A line from the end of bar a to the start of bar b. */
  function link(a, b, color, dash) {
    var ra = barRect(a), rb = barRect(b);
    ctx.strokeStyle = color;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(ra.x + ra.w, ra.y + ra.h / 2);
    ctx.lineTo(rb.x, rb.y + rb.h / 2);
    ctx.stroke();
    ctx.setLineDash([]);
  }
  function lastBar(i) {
    var best = -1;
    (nodeBars[i] || []).forEach(function (b) { if (best < 0 || bEnd[b] > bEnd[best]) best = b; });
    return best;
  }
  function drawMarks() {
    if ($('show-critical').checked && critical.length && critical.length <= 5000) {
      var bars = [];
      critical.forEach(function (i) { bars = bars.concat(nodeBars[i]); });
      for (var k = 1; k < critical.length; k++) { /* (in one lane, the outlines say it) */
        var from = lastBar(critical[k - 1]), to = firstBar[critical[k]];
        if (bLane[from] !== bLane[to]) link(from, to, '#111', [4, 3]);
      }
      outline(bars, '#111', 2);
    }
    if (selected >= 0 && nodeBars[selected]) {
      depsOf(selected).slice(0, 300).forEach(function (j) {
        if (nodeBars[j]) link(lastBar(j), firstBar[selected], '#1565c0', []);
      });
      outline(nodeBars[selected], '#1565c0', 3);
    }
    if (hoverBar >= 0) outline([hoverBar], '#000', 1);
  }
  function drawGutter() {
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, gutter, H);
    ctx.textBaseline = 'middle';
    for (var l = 0; l < L; l++) {
      var y = yOf(l), lane = lanes[l], host = hosts[lane.group];
      if (y + laneH < AXIS || y > H) continue;
      if (laneH >= 12) {
        ctx.font = '11px system-ui, "DejaVu Sans", sans-serif';
        ctx.textAlign = 'right';
        ctx.fillStyle = '#656d76';
        ctx.fillText('#' + lane.executor, gutter - 8, y + laneH / 2);
      }
      if (l === host.first || (y < AXIS && y + laneH >= AXIS)) {
        ctx.font = '600 12px system-ui, "DejaVu Sans", sans-serif';
        ctx.textAlign = 'left';
        ctx.fillStyle = '#1f2328';
        ctx.fillText(host.name, 8, Math.max(y, AXIS) + Math.min(laneH, 17) / 2 + 1);
      }
      if (l === host.first && l > 0) {
        ctx.strokeStyle = '#8c959f';
        ctx.beginPath(); ctx.moveTo(0, y + 0.5); ctx.lineTo(W, y + 0.5); ctx.stroke();
      }
    }
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, gutter, AXIS);
    ctx.strokeStyle = '#d0d7de';
    ctx.beginPath(); ctx.moveTo(gutter - 0.5, 0); ctx.lineTo(gutter - 0.5, H); ctx.stroke();
    var over = L * laneH - lanesH();
    if (over > 0) { /* a scroll mark: lanes above and below the view */
      var th = Math.max(20, lanesH() * lanesH() / (L * laneH));
      ctx.fillStyle = 'rgba(0,0,0,.25)';
      ctx.fillRect(W - 5, AXIS + (lanesH() - th) * view.y / over, 4, th);
    }
  }
  function draw() {
    var t = performance.now();
    ctx.clearRect(0, 0, W, H);
    drawLanes();
    drawAxis();
    ctx.save();
    ctx.beginPath();
    ctx.rect(gutter, AXIS, plotW(), lanesH());
    ctx.clip();
    var drawn = drawBars();
    drawMarks();
    ctx.restore();
    drawGutter();
    if (!M) {
      ctx.fillStyle = '#656d76';
      ctx.textAlign = 'center';
      ctx.font = '13px system-ui, "DejaVu Sans", sans-serif';
      ctx.fillText('no attempt ran', gutter + plotW() / 2, AXIS + lanesH() / 2);
    }
    T.drawn = drawn;
    T.drawMs = performance.now() - t;
    T.view = {t0: view.t0, t1: view.t1};
    $('drawn').textContent = JSON.stringify({bars: M, drawn: drawn, lanes: L,
                                             critical: critical.length});
  }
  var pending = false;
  function redraw() {
    if (pending) return;
    pending = true;
    requestAnimationFrame(function () { pending = false; draw(); });
  }

  /* ---- Finding what is under the pointer -------------------------------------------------- */
  function barAt(x, y) {
    if (x < gutter || y < AXIS) return -1;
    var l = Math.floor((y - AXIS + view.y) / laneH);
    if (l < 0 || l >= L) return -1;
    var list = byLane[l], t = tOf(x), tol = 3 * (view.t1 - view.t0) / plotW();
    var lo = 0, hi = list.length; /* the first bar starting after t + tol */
    while (lo < hi) {
      var mid = (lo + hi) >> 1;
      if (bStart[list[mid]] <= t + tol) lo = mid + 1; else hi = mid;
    }
    var best = -1, bestD = Infinity;
    for (var k = lo - 1; k >= 0 && k >= lo - 64; k--) {
      var b = list[k], d = t < bStart[b] ? bStart[b] - t : t > bEnd[b] ? t - bEnd[b] : 0;
      if (d <= tol && d < bestD) { best = b; bestD = d; }
      if (d === 0) break;
    }
    return best;
  }
  function showTip(b, x, y) {
    if (b < 0) { tip.hidden = true; return; }
    var n = nodes[bNode[b]], wait = bStart[b] - bReady[b];
    tip.innerHTML = '<b>' + esc(n.name) + '</b> <span class="m">attempt ' + (bTry[b] + 1) + '/' +
      attemptsOf(n).length + ', ' + esc(outcomeOf(b)) + '</span><br>' + where(b) + ': ' +
      fmt(bStart[b]) + ' \u2192 ' + fmt(bEnd[b]) + ' (' + fmt(bEnd[b] - bStart[b]) + ')' +
      (isNaN(wait) ? '' : '<br><span class="m">waited ' + fmt(wait) + ' after ready</span>') +
      (depsOf(bNode[b]).length ? '<br><span class="m">deps: ' +
        esc(n.deps.slice(0, 6).join(', ')) + (n.deps.length > 6 ? ', \u2026' : '') + '</span>'
        : '');
    tip.hidden = false;
    var tw = tip.offsetWidth, th = tip.offsetHeight;
    tip.style.left = Math.min(x + 14, W - tw - 4) + 'px';
    tip.style.top = (y + 16 + th > H ? Math.max(0, y - th - 8) : y + 16) + 'px';
  }

  /* ---- Details of one node ---------------------------------------------------------------- */
  function names(list) {
    if (!list.length) return '<span class="muted">none</span>';
    var shown = list.slice(0, 200).map(nodeLink).join(' ');
    return shown + (list.length > 200 ? ' <span class="muted">and ' + (list.length - 200) +
                                        ' more</span>' : '');
  }
  function details(i) {
    var box = $('details');
    if (i < 0) {
      box.innerHTML = '<h2>Node</h2><p class="muted">Hover over a bar for its attempt, click it ' +
                      'for the node\'s details and deps.</p>';
      return;
    }
    var n = nodes[i], h = attemptsOf(n), rows = '';
    h.forEach(function (a, k) {
      var w = num(a.start_s) !== null && num(a.ready_s) !== null ? a.start_s - a.ready_s : NaN;
      rows += '<tr><td class="n">' + (k + 1) + '</td><td>' + esc(a.host) + ' #' +
              esc(a.executor) + '</td><td class="n">' + fmt(num(a.ready_s)) +
              '</td><td class="n">' + fmt(num(a.start_s)) + '</td><td class="n">' +
              fmt(num(a.end_s)) + '</td><td class="n">' + fmt(w) + '</td><td>' +
              dot(classOf(a.outcome, k + 1 < h.length)) + esc(a.outcome) + '</td></tr>';
    });
    box.innerHTML = '<h2>Node</h2><dl><dt>name</dt><dd><b>' + esc(n.name) + '</b>' +
      (onCritical[i] ? ' <span class="muted">(on the critical path)</span>' : '') + '</dd>' +
      '<dt>status</dt><dd>' + esc(n.status) + (n.exit_code !== null && n.exit_code !== undefined
        ? ', exit code ' + esc(n.exit_code) : '') + '</dd>' +
      (n.error ? '<dt>error</dt><dd>' + esc(n.error) + '</dd>' : '') +
      '<dt>deps</dt><dd class="names">' + names(depsOf(i)) + '</dd>' +
      '<dt>dependents</dt><dd class="names">' + names(dependentsOf(i)) + '</dd></dl>' +
      (h.length ? '<table><tr><th class="n">#</th><th>host #executor</th><th class="n">ready</th>' +
        '<th class="n">start</th><th class="n">end</th><th class="n">waited</th><th>outcome</th>' +
        '</tr>' + rows + '</table>' : '<p class="muted">no attempt</p>');
  }
  /* Selects node i (-1: none); with reveal, brings its first bar into view. */
  function select(i, reveal) {
    selected = i;
    details(i);
    if (reveal && i >= 0 && firstBar[i] >= 0) {
      var b = firstBar[i], len = view.t1 - view.t0, e = lastEnd[i];
      if (e - bStart[b] > len * 0.9) len = (e - bStart[b]) * 1.25;
      if (bStart[b] < view.t0 || e > view.t1 || len !== view.t1 - view.t0) {
        view.t0 = (bStart[b] + e) / 2 - len / 2;
        view.t1 = view.t0 + len;
      }
      var y = bLane[b] * laneH;
      if (y < view.y || y + laneH > view.y + lanesH()) view.y = y - lanesH() / 2;
      clampView();
      wrap.scrollIntoView({block: 'nearest'});
    }
    redraw();
  }
  T.select = function (name) { select(index.has(name) ? index.get(name) : -1, true); };

  /* ---- Input ------------------------------------------------------------------------------ */
  function zoom(factor, x) {
    var t = tOf(x === undefined ? gutter + plotW() / 2 : x);
    view.t0 = t - (t - view.t0) * factor;
    view.t1 = t + (view.t1 - t) * factor;
    clampView();
    redraw();
  }
  function fit() { view.t0 = full[0]; view.t1 = full[1]; clampView(); redraw(); }
  var drag = null;
  canvas.addEventListener('wheel', function (e) {
    e.preventDefault();
    if (e.shiftKey) view.y += e.deltaY || e.deltaX;
    else if (Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
      var dt = e.deltaX * (view.t1 - view.t0) / plotW();
      view.t0 += dt;
      view.t1 += dt;
    } else return zoom(Math.exp(e.deltaY * 0.0015), e.offsetX);
    clampView();
    redraw();
  }, {passive: false});
  canvas.addEventListener('mousedown', function (e) {
    drag = {x: e.offsetX, y: e.offsetY, t0: view.t0, t1: view.t1, vy: view.y, moved: false};
  });
  window.addEventListener('mouseup', function (e) {
    if (drag && !drag.moved && e.target === canvas) {
      var b = barAt(e.offsetX, e.offsetY);
      select(b >= 0 ? bNode[b] : -1, false);
    }
    drag = null;
  });
  canvas.addEventListener('mousemove', function (e) {
    if (drag && (drag.moved || Math.abs(e.offsetX - drag.x) + Math.abs(e.offsetY - drag.y) > 3)) {
      drag.moved = true;
      var dt = (e.offsetX - drag.x) * (drag.t1 - drag.t0) / plotW();
      view.t0 = drag.t0 - dt;
      view.t1 = drag.t1 - dt;
      view.y = drag.vy - (e.offsetY - drag.y);
      clampView();
      tip.hidden = true;
      redraw();
      return;
    }
    var b = barAt(e.offsetX, e.offsetY);
    if (b !== hoverBar) { hoverBar = b; redraw(); }
    showTip(b, e.offsetX, e.offsetY);
  });
  canvas.addEventListener('mouseleave', function () {
    tip.hidden = true;
    if (hoverBar >= 0) { hoverBar = -1; redraw(); }
  });
  window.addEventListener('keydown', function (e) {
    if (e.target && e.target.tagName === 'INPUT') return;
    var len = view.t1 - view.t0;
    if (e.key === '+' || e.key === '=') zoom(0.7);
    else if (e.key === '-') zoom(1 / 0.7);
    else if (e.key === '0') fit();
    else if (e.key === 'ArrowLeft') { view.t0 -= len / 10; view.t1 -= len / 10; redraw(); }
    else if (e.key === 'ArrowRight') { view.t0 += len / 10; view.t1 += len / 10; redraw(); }
    else if (e.key === 'Escape') select(-1, false);
  });
  $('fit').onclick = fit;
  $('zoom-in').onclick = function () { zoom(0.7); };
  $('zoom-out').onclick = function () { zoom(1 / 0.7); };
  $('show-critical').onchange = redraw;
  $('find').addEventListener('keydown', function (e) {
    if (e.key !== 'Enter') return;
    var q = e.target.value.trim(), hit = index.has(q) ? index.get(q) : -1;
    for (var k = 0; hit < 0 && q && k < N; k++) if (nodes[k].name.indexOf(q) >= 0) hit = k;
    select(hit, true);
  });
  document.addEventListener('click', function (e) {
    var a = e.target.closest && e.target.closest('[data-node], tr[data-bar]');
    if (!a) return;
    e.preventDefault();
    select(a.hasAttribute('data-node') ? Number(a.getAttribute('data-node'))
                                       : bNode[Number(a.getAttribute('data-bar'))], true);
  });
  window.addEventListener('resize', function () { layout(); redraw(); });

  /* ---- What the page drew, for tests and scripts ------------------------------------------ */
  T.bars = M;
  T.unplaced = unplaced;
  T.lanes = L;
  T.hosts = hosts.map(function (h) { return h.name; });
  T.critical = critical.map(function (i) { return nodes[i].name; });
  T.classes = CLASSES.map(function (c) { return c.key; });
  /* {node: {outcome: bars painted}} of the last drawing. */
  T.drawnByNode = function () {
    var out = {};
    for (var b = 0; b < M; b++) {
      if (!painted[b]) continue;
      var o = out[nodes[bNode[b]].name] || (out[nodes[bNode[b]].name] = {}), k = outcomeOf(b);
      o[k] = (o[k] || 0) + 1;
    }
    return out;
  };
  /* Where the bar of node name's attempt k (1-based) is in the window: {x, y, w, h}, or null. */
  T.barRect = function (name, k) {
    var bars = nodeBars[index.get(name)] || [], box = canvas.getBoundingClientRect();
    for (var j = 0; j < bars.length; j++) {
      if (bTry[bars[j]] !== k - 1) continue;
      var r = barRect(bars[j]);
      return {x: box.left + r.x, y: box.top + r.y, w: r.w, h: r.h};
    }
    return null;
  };
  /* {class: bars painted} of the last drawing. */
  T.drawnByClass = function () {
    var out = {};
    for (var b = 0; b < M; b++)
      if (painted[b]) out[CLASSES[bCls[b]].key] = (out[CLASSES[bCls[b]].key] || 0) + 1;
    return out;
  };

  summary();
  tables();
  layout();
  draw();
  T.loadMs = performance.now() - loadStart;
  T.ready = true;
})();
