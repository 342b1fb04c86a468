// The Usage Analysis page: filters and tabs live in the URL, every figure
// comes from /api/ui/… (or, in an exported report, from the data embedded
// in window.USAGELAKE_REPORT), charts are Apache ECharts.
(function () {
  'use strict';

  var REPORT = window.USAGELAKE_REPORT || null;
  var TOKEN_KEY = 'usagelake-token';
  var FILTERS = ['as_of', 'from', 'to', 'domain', 'role', 'license', 'group', 'package'];
  var darkQuery = window.matchMedia('(prefers-color-scheme: dark)');

  // What the page shows, for tests and for debugging from the console.
  var ui = window.__ui = { state: 'loading', rendered: {}, lastDrill: null, charts: {} };
  var current = { tab: 'overview', filters: {}, meta: null, data: null, seq: 0 };

  function $(id) { return document.getElementById(id); }

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    Object.keys(attrs || {}).forEach(function (k) {
      if (k === 'text') node.textContent = attrs[k];
      else if (k === 'className') node.className = attrs[k];
      else node.setAttribute(k, attrs[k]);
    });
    (children || []).forEach(function (c) { node.appendChild(c); });
    return node;
  }

  function setState(state, message, isError) {
    ui.state = state;
    document.body.dataset.state = state;
    var status = $('status');
    status.textContent = message || '';
    status.className = isError ? 'error' : '';
  }

  // ---- URL state -------------------------------------------------------

  function readUrl() {
    var params = new URLSearchParams(location.search);
    current.tab = params.get('tab') || 'overview';
    FILTERS.forEach(function (k) { current.filters[k] = params.get(k) || ''; });
  }

  function writeUrl() {
    if (REPORT) return;
    var params = new URLSearchParams();
    params.set('tab', current.tab);
    FILTERS.forEach(function (k) { if (current.filters[k]) params.set(k, current.filters[k]); });
    history.replaceState(null, '', '?' + params.toString());
  }

  function filterQuery(extra) {
    var params = new URLSearchParams();
    FILTERS.forEach(function (k) {
      var v = current.filters[k];
      if (!v) return;
      if ((k === 'group' || k === 'package') && current.tab !== 'platform') return;
      params.set(k, v);
    });
    Object.keys(extra || {}).forEach(function (k) { params.set(k, extra[k]); });
    return params.toString();
  }

  // ---- data ------------------------------------------------------------

  function askToken() {
    return new Promise(function (resolve) {
      $('token').hidden = false;
      $('token-input').focus();
      $('token-form').onsubmit = function (e) {
        e.preventDefault();
        sessionStorage.setItem(TOKEN_KEY, $('token-input').value);
        $('token').hidden = true;
        resolve();
      };
    });
  }

  function api(path, extra) {
    if (REPORT) return reportApi(path, extra);
    var url = new URL('../api/ui/' + path + '?' + filterQuery(extra), location.href);
    var headers = {};
    var token = sessionStorage.getItem(TOKEN_KEY);
    if (token) headers.Authorization = 'Bearer ' + token;
    return fetch(url, { headers: headers }).then(function (response) {
      if (response.status === 401) {
        sessionStorage.removeItem(TOKEN_KEY);
        return askToken().then(function () { return api(path, extra); });
      }
      return response.json().then(function (body) {
        if (!response.ok) throw new Error(body.error || response.statusText);
        return body;
      });
    });
  }

  // The point key the report's drilldowns are stored under (see
  // report_drills in src/ui/mod.rs).
  function pointKey(x, y) { return String(x) + '\u0001' + (y === undefined || y === null ? '' : String(y)); }

  function reportApi(path, extra) {
    if (path === 'meta') return Promise.resolve(REPORT.meta);
    var drill = /^drill\/(.*)$/.exec(path);
    if (drill) {
      var points = (REPORT.drills || {})[drill[1]] || {};
      var found = points[pointKey(extra.x, extra.y)];
      if (found) return Promise.resolve(found);
      return Promise.reject(new Error('this exported report holds no rows for that point; the live page has them (usagelake ui or serve)'));
    }
    var tab = path.replace(/^tabs\//, '');
    if (REPORT.tabs[tab]) return Promise.resolve(REPORT.tabs[tab]);
    return Promise.reject(new Error('no tab ' + tab + ' in this report'));
  }

  // A panel's points open their rows: from the API, or in a report from
  // the rows embedded for it.
  function canDrill(p) { return p.drill && (!REPORT || !!(REPORT.drills || {})[p.id]); }

  // ---- filters and tabs --------------------------------------------------

  function fillSelect(id, values, value, allLabel) {
    var select = $(id);
    select.innerHTML = '';
    if (allLabel) select.appendChild(el('option', { value: '', text: allLabel }));
    values.forEach(function (v) { select.appendChild(el('option', { value: v, text: v })); });
    select.value = value || '';
  }

  function renderFilters(meta) {
    var f = meta.filters;
    var dates = meta.as_of_dates.length ? meta.as_of_dates : [f.as_of];
    fillSelect('f-as_of', dates, current.filters.as_of || f.as_of);
    $('f-from').value = current.filters.from || f.from;
    $('f-to').value = current.filters.to || f.to;
    if (meta.first_date) { $('f-from').min = meta.first_date; $('f-to').min = meta.first_date; }
    if (meta.last_date) { $('f-from').max = meta.last_date; $('f-to').max = meta.last_date; }
    fillSelect('f-domain', meta.domains, current.filters.domain, 'All domains');
    fillSelect('f-role', meta.roles, current.filters.role, 'All roles');
    fillSelect('f-license', meta.licenses, current.filters.license, 'All licenses');
    fillSelect('f-group', meta.groups, current.filters.group, 'All groups');
    fillSelect('f-package', meta.packages, current.filters.package, 'All packages');
    if (REPORT) {
      Array.prototype.forEach.call(document.querySelectorAll('#filters select, #filters input'), function (c) { c.disabled = true; });
      var banner = $('banner');
      banner.hidden = false;
      banner.textContent = 'Report exported ' + REPORT.generated_at + ' for as-of ' + f.as_of + ' (' + f.from + ' to ' + f.to +
        '). Drilldowns show the first ' + REPORT.drill_rows + ' rows of each point; filters and full drilldowns need the live page: usagelake ui (or serve).';
    }
  }

  function renderTabs(meta) {
    var nav = $('tabs');
    nav.innerHTML = '';
    meta.tabs.forEach(function (t) {
      var b = el('button', { type: 'button', role: 'tab', id: 'tab-' + t.id, text: t.title });
      b.setAttribute('aria-selected', String(t.id === current.tab));
      b.onclick = function () { current.tab = t.id; writeUrl(); selectTab(); loadTab(); };
      nav.appendChild(b);
    });
  }

  function selectTab() {
    document.body.dataset.tab = current.tab;
    Array.prototype.forEach.call(document.querySelectorAll('#tabs button'), function (b) {
      b.setAttribute('aria-selected', String(b.id === 'tab-' + current.tab));
    });
  }

  function onFilterChange(key) {
    return function (e) {
      current.filters[key] = e.target.value;
      writeUrl();
      if (key === 'as_of') loadMeta().then(loadTab); else loadTab();
    };
  }

  // ---- rendering ---------------------------------------------------------

  function fmt(v) {
    if (v === null || v === undefined) return '';
    if (typeof v === 'number') {
      if (Number.isInteger(v)) return v.toLocaleString('en-US');
      return Math.abs(v) < 1 ? (v * 100).toFixed(1) + '%' : v.toFixed(1);
    }
    return String(v);
  }

  function pct(v) { return v === null || v === undefined ? '' : (v * 100).toFixed(1) + '%'; }

  function col(rows, key) { return rows.map(function (r) { return r[key]; }); }

  function unique(values) {
    var seen = [];
    values.forEach(function (v) { if (seen.indexOf(v) < 0) seen.push(v); });
    return seen;
  }

  function base(extra) {
    var option = {
      backgroundColor: 'transparent',
      tooltip: { trigger: 'axis', confine: true },
      legend: { top: 0, type: 'scroll' },
      grid: { left: 50, right: 30, top: 36, bottom: 30, containLabel: true },
      animation: false
    };
    Object.keys(extra).forEach(function (k) { option[k] = extra[k]; });
    return option;
  }

  // Axis numbers as 300K / 1.2M: full numbers overlap on a narrow value axis.
  var compact = new Intl.NumberFormat('en-US', { notation: 'compact', maximumFractionDigits: 1 });

  function bars(categories, series, horizontal, stacked) {
    // Every category label shown; turned when they would not fit side by
    // side (about 7 px a character in a ~460 px wide plot).
    var longest = categories.reduce(function (m, c) { return Math.max(m, String(c).length); }, 0);
    var crowded = !horizontal && categories.length * longest * 7 > 460;
    var cat = { type: 'category', data: categories, axisLabel: horizontal
      ? { interval: 0, width: 200, overflow: 'truncate' }
      : { interval: 0, rotate: crowded ? 30 : 0, hideOverlap: categories.length > 24 } };
    var val = { type: 'value', axisLabel: { formatter: function (v) { return compact.format(v); } } };
    return base({
      xAxis: horizontal ? val : cat,
      yAxis: horizontal ? Object.assign(cat, { inverse: true }) : val,
      series: series.map(function (s) {
        return { name: s.name, type: 'bar', data: s.data, stack: stacked ? 'total' : undefined, emphasis: { focus: 'series' } };
      })
    });
  }

  function pivot(rows, xKey, seriesKey, valueKey) {
    var xs = unique(col(rows, xKey));
    var names = unique(col(rows, seriesKey));
    return {
      xs: xs,
      series: names.map(function (n) {
        return {
          name: n,
          data: xs.map(function (x) {
            var row = rows.find(function (r) { return r[xKey] === x && r[seriesKey] === n; });
            return row ? row[valueKey] : 0;
          })
        };
      })
    };
  }

  function heatmap(rows, xKey, yKey, valueKey, label) {
    var xs = unique(col(rows, xKey)), ys = unique(col(rows, yKey));
    return base({
      tooltip: { position: 'top', formatter: function (p) { return ys[p.value[1]] + ' · ' + xs[p.value[0]] + ': ' + pct(p.value[2]) + label(p.value[3]); } },
      legend: { show: false },
      grid: { left: 50, right: 20, top: 10, bottom: 90, containLabel: true },
      xAxis: { type: 'category', data: xs, splitArea: { show: true }, axisLabel: { rotate: 30 } },
      yAxis: { type: 'category', data: ys, splitArea: { show: true } },
      visualMap: { dimension: 2, min: 0, max: 1, calculable: true, inRange: { color: ['#e3ecfb', '#2f6fde', '#0b2f73'] }, orient: 'horizontal', left: 'center', bottom: 0, itemHeight: 120, formatter: function (v) { return pct(v); } },
      series: [{
        type: 'heatmap',
        data: rows.map(function (r) { return [xs.indexOf(r[xKey]), ys.indexOf(r[yKey]), r[valueKey], r]; }),
        label: { show: xs.length <= 14, formatter: function (p) { return pct(p.value[2]); }, fontSize: 10 }
      }]
    });
  }

  // Each renderer turns a panel's rows into a chart option (with how a
  // click maps to the drilldown's x / y), KPI tiles or a table.
  var renderers = {
    kpis: function (rows) {
      var r = rows[0];
      return { kind: 'kpis', items: [['dau', 'DAU'], ['wau', 'WAU'], ['mau', 'MAU'], ['prev_mau', 'MAU, previous window']].map(function (k) { return { id: k[0], label: k[1], value: r[k[0]] }; }) };
    },
    active_series: function (rows) {
      return {
        kind: 'chart',
        hint: 'Click a day to list the users active on it.',
        option: base({
          xAxis: { type: 'category', data: col(rows, 'date') },
          yAxis: { type: 'value' },
          series: ['dau', 'wau', 'mau'].map(function (k) {
            return { name: k.toUpperCase(), type: 'line', data: col(rows, k), showSymbol: rows.length <= 62, symbolSize: 6 };
          })
        }),
        // Anywhere in the day's column opens its users, not only the dot.
        columnDrill: function (index) { return { x: rows[index].date, title: 'Users active on ' + rows[index].date }; }
      };
    },
    stickiness: function (rows) {
      var colors = { Strong: '#3ba272', Moderate: '#fac858', Weak: '#ee6666' };
      var option = bars(col(rows, 'customer_domain'), [{ name: 'stickiness', data: rows.map(function (r) {
        return { value: r.stickiness, itemStyle: { color: colors[r.band] || '#5470c6' }, band: r.band };
      }) }]);
      option.tooltip = { trigger: 'item', formatter: function (p) { var r = rows[p.dataIndex]; return r.customer_domain + '<br>stickiness ' + pct(r.stickiness) + ' (' + r.band + ')<br>MAU ' + fmt(r.mau) + ', avg DAU ' + fmt(r.avg_dau); } };
      option.series[0].label = { show: true, position: 'top', formatter: function (p) { return pct(p.value) + ' ' + rows[p.dataIndex].band; } };
      option.yAxis.axisLabel = { formatter: function (v) { return pct(v); } };
      return { kind: 'chart', option: option };
    },
    roster_status: function (rows) {
      var p = pivot(rows, 'customer_domain', 'status', 'users');
      return {
        kind: 'chart', hint: 'Click a bar to list its users.', option: bars(p.xs, p.series, false, true),
        drill: function (e) { return { x: e.name, y: e.seriesName, title: e.seriesName + ' users of ' + e.name }; }
      };
    },
    adoption_matrix: function (rows) {
      return {
        kind: 'chart', hint: 'Click a cell to list the users of that area.', tall: true,
        option: heatmap(rows, 'feature_area', 'customer_domain', 'share', function (r) { return ' (' + fmt(r.users) + ' of ' + fmt(r.active_users) + ')'; }),
        drill: function (e) { var r = e.value[3]; return { x: r.customer_domain, y: r.feature_area, title: r.feature_area + ' users of ' + r.customer_domain }; }
      };
    },
    feature_trends: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'feature_area'), [
        { name: 'users, last 7 days', data: col(rows, 'users_7d') },
        { name: 'users, 7 days before', data: col(rows, 'users_prev_7d') }
      ], true) };
    },
    top_events: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'event_name'), [{ name: 'events', data: col(rows, 'events') }, { name: 'users', data: col(rows, 'users') }], true) };
    },
    top_pages: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'page'), [{ name: 'views', data: col(rows, 'views') }, { name: 'users', data: col(rows, 'users') }], true) };
    },
    connector_usage: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'connector_name'), [{ name: 'interactions', data: col(rows, 'interactions') }, { name: 'users', data: col(rows, 'users') }]) };
    },
    session_histogram: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'bucket'), [{ name: 'sessions', data: col(rows, 'sessions') }]) };
    },
    actions_histogram: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'bucket'), [{ name: 'sessions', data: col(rows, 'sessions') }]) };
    },
    session_duration: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'customer_domain'), [
        { name: 'median s', data: col(rows, 'median_duration_s') },
        { name: 'mean s', data: col(rows, 'avg_duration_s') },
        { name: 'p90 s', data: col(rows, 'p90_duration_s') }
      ]) };
    },
    engagement_tiers: function (rows) {
      var p = pivot(rows, 'customer_domain', 'tier', 'user_count');
      return { kind: 'chart', option: bars(p.xs, p.series, false, true) };
    },
    power_users: function (rows) { return { kind: 'table', rows: rows }; },
    cohort_heatmap: function (rows) {
      var option = heatmap(rows, 'months_since', 'cohort_month', 'retention_rate', function (r) { return ' (' + fmt(r.active_users) + ' of ' + fmt(r.cohort_size) + ')'; });
      option.xAxis.name = 'months since first activity';
      option.xAxis.nameLocation = 'middle';
      option.xAxis.nameGap = 26;
      option.xAxis.axisLabel = { rotate: 0 };
      return {
        kind: 'chart', hint: 'Click a cell to list the cohort users active that month.', option: option,
        drill: function (e) { var r = e.value[3]; return { x: r.cohort_month, y: r.activity_month, title: 'Cohort ' + r.cohort_month + ' active in ' + r.activity_month }; }
      };
    },
    day_n_curve: function (rows) {
      var types = unique(col(rows, 'retention_type'));
      var days = unique(col(rows, 'day_n'));
      var option = base({
        xAxis: { type: 'category', data: days, name: 'day N', nameLocation: 'middle', nameGap: 26 },
        yAxis: { type: 'value', max: 1, axisLabel: { formatter: function (v) { return pct(v); } } },
        series: types.map(function (t) {
          return { name: t, type: 'line', data: days.map(function (d) { var r = rows.find(function (x) { return x.retention_type === t && x.day_n === d; }); return r ? r.retention_rate : null; }) };
        })
      });
      option.tooltip.valueFormatter = pct;
      return { kind: 'chart', option: option };
    },
    activation: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'signup_month'), [
        { name: 'new users', data: col(rows, 'new_users') },
        { name: 'active within 1 day', data: col(rows, 'activated_1d') },
        { name: 'within 7 days', data: col(rows, 'activated_7d') },
        { name: 'within 30 days', data: col(rows, 'activated_30d') }
      ]) };
    },
    funnel: function (rows) {
      var option = bars(col(rows, 'step_name'), [{ name: 'users', data: col(rows, 'users') }]);
      // Each step's users and their share of the first step's.
      var first = rows[0].users;
      option.series[0].label = { show: true, position: 'top', formatter: function (p) { return fmt(p.value) + (first ? ' (' + pct(p.value / first) + ')' : ''); } };
      return { kind: 'chart', option: option };
    },
    product_popularity: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'product_id'), [{ name: 'popularity', data: col(rows, 'popularity_score') }, { name: 'queries (30 d)', data: col(rows, 'query_count_30d') }], true) };
    },
    unused_products: function (rows) {
      return { kind: 'table', rows: rows, caption: 'Coverage (products with a query in 30 days): ' + pct(rows[0].coverage) };
    },
    query_patterns: function (rows) {
      return { kind: 'table', rows: rows, hint: 'Click a pattern to list who ran it.', rowDrill: function (r) { return { x: r.query_fingerprint, title: 'Users of pattern ' + r.query_fingerprint }; } };
    },
    table_rollup: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'table_name'), [{ name: 'executions', data: col(rows, 'executions') }], true) };
    },
    database_rollup: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'database'), [{ name: 'executions', data: col(rows, 'executions') }, { name: 'users', data: col(rows, 'users') }], true) };
    },
    package_users: function (rows) {
      return {
        kind: 'chart', hint: 'Click a bar to list the package\u2019s users.',
        option: bars(col(rows, 'package'), [{ name: 'users', data: col(rows, 'users') }], true),
        drill: function (e) { return { x: e.name, title: 'Users of ' + e.name }; }
      };
    },
    function_usage: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'function'), [{ name: 'calls', data: col(rows, 'calls') }, { name: 'mean ms', data: col(rows, 'avg_ms') }], true) };
    },
    errors: function (rows) {
      return { kind: 'chart', option: bars(col(rows, 'signature'), [{ name: 'errors', data: col(rows, 'errors') }, { name: 'users', data: col(rows, 'users') }], true) };
    },
    latency: function (rows) {
      return { kind: 'chart', option: base({
        xAxis: { type: 'category', data: col(rows, 'date') },
        yAxis: { type: 'value', name: 'ms' },
        series: [{ name: 'median', type: 'line', data: col(rows, 'median_ms') }, { name: 'mean', type: 'line', data: col(rows, 'avg_ms') }]
      }) };
    }
  };

  function table(rows, rowDrill, panel, columns) {
    if (!columns || !columns.length) columns = Object.keys(rows[0]);
    var head = el('tr', {}, columns.map(function (c) { return el('th', { text: c }); }));
    var body = rows.map(function (r) {
      var tr = el('tr', {}, columns.map(function (c) { return el('td', { text: fmt(r[c]), className: typeof r[c] === 'number' ? 'num' : '' }); }));
      if (rowDrill) {
        tr.className = 'drillable';
        tr.onclick = function () { var d = rowDrill(r); openDrill(panel, d); };
      }
      return tr;
    });
    return el('div', { className: 'table-wrap' }, [el('table', {}, [el('thead', {}, [head]), el('tbody', {}, body)])]);
  }

  function disposeCharts() {
    Object.keys(ui.charts).forEach(function (id) { ui.charts[id].dispose(); });
    ui.charts = {};
  }

  function renderTab(data) {
    disposeCharts();
    ui.rendered = {};
    var main = $('panels');
    main.innerHTML = '';
    data.panels.forEach(function (p) {
      var card = el('section', { className: 'panel', id: 'panel-' + p.id }, [el('h3', { text: p.title })]);
      main.appendChild(card);
      if (p.note) {
        card.appendChild(el('div', { className: 'note', text: p.note }));
        ui.rendered[p.id] = { kind: 'note', note: p.note };
        return;
      }
      var view = renderers[p.id](p.rows);
      if (view.hint && canDrill(p)) card.appendChild(el('p', { className: 'hint', text: view.hint }));
      if (view.kind === 'kpis') {
        card.classList.add('wide');
        card.appendChild(el('div', { className: 'kpis' }, view.items.map(function (k) {
          return el('div', { className: 'kpi' }, [el('div', { className: 'label', text: k.label }), el('div', { className: 'value', id: 'kpi-' + k.id, text: fmt(k.value) })]);
        })));
        ui.rendered[p.id] = { kind: 'kpis', values: view.items.map(function (k) { return k.value; }) };
      } else if (view.kind === 'table') {
        card.classList.add('wide');
        if (view.caption) card.appendChild(el('p', { className: 'hint', text: view.caption }));
        card.appendChild(table(p.rows, canDrill(p) ? view.rowDrill : null, p.id, p.columns));
        ui.rendered[p.id] = { kind: 'table', rows: p.rows.length };
      } else {
        var div = el('div', { className: 'chart', id: 'chart-' + p.id });
        card.appendChild(div);
        var chart = echarts.init(div, darkQuery.matches ? 'dark' : null);
        chart.setOption(view.option);
        ui.charts[p.id] = chart;
        // Milliseconds since navigation began: bench/ui.py's time to first chart.
        if (ui.firstChartMs === undefined) ui.firstChartMs = performance.now();
        if (canDrill(p) && view.drill) {
          chart.on('click', function (e) { openDrill(p.id, view.drill(e)); });
        }
        if (canDrill(p) && view.columnDrill) {
          chart.getZr().on('click', function (e) {
            var point = [e.offsetX, e.offsetY];
            if (!chart.containPixel('grid', point)) return;
            var index = chart.convertFromPixel({ gridIndex: 0 }, point)[0];
            if (index >= 0 && index < p.rows.length) openDrill(p.id, view.columnDrill(Math.round(index)));
          });
        }
        ui.rendered[p.id] = { kind: 'chart', series: view.option.series.length, points: p.rows.length };
      }
    });
  }

  function loadTab() {
    var seq = ++current.seq;
    selectTab();
    setState('loading', 'Loading…');
    return api('tabs/' + current.tab).then(function (data) {
      if (seq !== current.seq) return;
      current.data = data;
      renderTab(data);
      setState('ready', '');
      if (ui.readyMs === undefined) ui.readyMs = performance.now();
    }).catch(function (e) {
      if (seq !== current.seq) return;
      disposeCharts();
      $('panels').innerHTML = '';
      setState('failed', e.message, true);
    });
  }

  function loadMeta() {
    return api('meta').then(function (meta) {
      current.meta = meta;
      renderTabs(meta);
      renderFilters(meta);
    });
  }

  // ---- drilldown ---------------------------------------------------------

  function csvCell(v) {
    var s = v === null || v === undefined ? '' : String(v);
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }

  function openDrill(panel, point) {
    if (!point) return;
    var box = $('drill');
    $('drill-title').textContent = point.title || panel;
    $('drill-count').textContent = 'Loading…';
    $('drill-table').innerHTML = '';
    box.hidden = false;
    var extra = { x: point.x };
    if (point.y !== undefined) extra.y = point.y;
    api('drill/' + panel, extra).then(function (d) {
      ui.lastDrill = d;
      var shown = d.rows.length.toLocaleString('en-US');
      $('drill-count').textContent = d.truncated
        ? 'first ' + shown + ' of ' + (d.total === undefined ? 'more' : d.total.toLocaleString('en-US')) + ' rows'
        : shown + ' row(s)';
      var t = $('drill-table');
      t.appendChild(el('thead', {}, [el('tr', {}, d.columns.map(function (c) { return el('th', { text: c }); }))]));
      t.appendChild(el('tbody', {}, d.rows.map(function (r) {
        return el('tr', {}, d.columns.map(function (c) { return el('td', { text: r[c] === null ? '' : String(r[c]), className: typeof r[c] === 'number' ? 'num' : '' }); }));
      })));
      $('drill-csv').onclick = function () {
        var lines = [d.columns.map(csvCell).join(',')].concat(d.rows.map(function (r) { return d.columns.map(function (c) { return csvCell(r[c]); }).join(','); }));
        var blob = new Blob([lines.join('\n') + '\n'], { type: 'text/csv' });
        var a = el('a', { href: URL.createObjectURL(blob), download: panel + '-' + String(point.x).replace(/[^A-Za-z0-9._-]/g, '_') + '.csv' });
        document.body.appendChild(a);
        a.click();
        a.remove();
      };
      box.dataset.state = 'ready';
    }).catch(function (e) {
      $('drill-count').textContent = e.message;
      $('drill-count').className = 'error';
      box.dataset.state = 'failed';
    });
  }

  function closeDrill() { $('drill').hidden = true; $('drill').dataset.state = ''; $('drill-count').className = ''; }

  // ---- start -----------------------------------------------------------

  readUrl();
  FILTERS.forEach(function (k) { $('f-' + k).addEventListener('change', onFilterChange(k)); });
  $('drill-close').onclick = closeDrill;
  document.addEventListener('keydown', function (e) { if (e.key === 'Escape') closeDrill(); });
  window.addEventListener('resize', function () { Object.keys(ui.charts).forEach(function (id) { ui.charts[id].resize(); }); });
  // Light and dark follow the system setting, also when it changes.
  darkQuery.addEventListener('change', function () { if (current.data) renderTab(current.data); });
  loadMeta().then(loadTab).catch(function (e) { setState('failed', e.message, true); });
})();
