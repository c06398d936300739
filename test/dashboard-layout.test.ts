import t from 'tap'
import { appendChart, chartPositions, defaultLayout, parseLayout, removeChart, tabTitles } from '../src/catalog/dashboard-layout.ts'
import type { DashboardLayout } from '../src/catalog/dashboard-layout.ts'

// Superset's position_json: reading positions, appending where a person would, removing.

const chart = (id: number): { id: number, slice_name: string } => ({ id, slice_name: `Chart ${id}` })

t.test('append fills the last row, then starts a new one', async t => {
  let layout = defaultLayout('D', [chart(1), chart(2), chart(3)])
  t.same(chartPositions(layout).map(p => [p.chartId, p.row, p.column]), [[1, 1, 0], [2, 1, 6], [3, 2, 0]])
  const added = appendChart(layout, chart(4))
  t.match(added.position, { chartId: 4, row: 2, column: 6, width: 6 })
  layout = appendChart(added.layout, chart(5), 4).layout
  t.match(chartPositions(layout).at(-1), { chartId: 5, row: 3, column: 0, width: 4 }, 'no room in row 2: a new row')
  t.same(chartPositions(removeChart(layout, 3)).map(p => p.chartId), [1, 2, 4, 5])
  t.same(chartPositions(removeChart(removeChart(layout, 3), 4)).map(p => [p.chartId, p.row]), [[1, 1], [2, 1], [5, 2]], 'an emptied row disappears')
  t.same(chartPositions(defaultLayout('D', [])), [], 'an empty dashboard')
})

t.test('tabbed layouts without a grid (imported from Superset)', async t => {
  const tabbed: DashboardLayout = {
    DASHBOARD_VERSION_KEY: 'v2',
    ROOT_ID: { type: 'ROOT', id: 'ROOT_ID', children: ['TABS-1'] },
    'TABS-1': { type: 'TABS', id: 'TABS-1', children: ['TAB-a', 'TAB-b'], parents: ['ROOT_ID'] },
    'TAB-a': { type: 'TAB', id: 'TAB-a', children: ['ROW-a'], parents: ['ROOT_ID', 'TABS-1'], meta: { text: 'Overview' } },
    'TAB-b': { type: 'TAB', id: 'TAB-b', children: [], parents: ['ROOT_ID', 'TABS-1'], meta: { text: 'Details' } },
    'ROW-a': { type: 'ROW', id: 'ROW-a', children: ['CHART-1'], parents: ['ROOT_ID', 'TABS-1', 'TAB-a'] },
    'CHART-1': { type: 'CHART', id: 'CHART-1', children: [], meta: { chartId: 1, sliceName: 'One', width: 8 } }
  }
  t.same(chartPositions(tabbed).map(p => [p.chartId, p.tabs]), [[1, ['Overview']]])
  const { layout, position } = appendChart(tabbed, chart(2), 4)
  t.match(position, { chartId: 2, row: 1, column: 8, tabs: ['Overview'] }, 'into the first tab\'s last row')
  const third = appendChart(layout, chart(3))
  t.match(third.position, { chartId: 3, row: 2, tabs: ['Overview'] })
  const bare = appendChart({ ROOT_ID: { type: 'ROOT', id: 'ROOT_ID', children: [] } }, chart(9))
  t.match(bare.position, { chartId: 9, row: 1, column: 0 }, 'no grid and no tabs: a grid is made')
  t.equal(parseLayout('not json'), undefined)
  t.equal(parseLayout('{"a": 1}'), undefined, 'JSON without a ROOT_ID is no layout')
})

t.test('appending into a tab by title: an existing tab, or a new one in the grid or the tab strip', async t => {
  const grid = defaultLayout('D', [chart(1)])
  const made = appendChart(grid, chart(2), 6, 'Details')
  t.equal(made.createdTab, true)
  t.same(chartPositions(made.layout).map(p => [p.chartId, p.tabs]), [[1, []], [2, ['Details']]], 'a tab strip at the bottom of the grid, with the new tab')
  t.same(tabTitles(made.layout), ['Details'])
  const again = appendChart(made.layout, chart(3), 6, 'DETAILS')
  t.equal(again.createdTab, false, 'titles match in any case')
  t.match(again.position, { chartId: 3, row: made.position.row, column: 6, tabs: ['Details'] }, 'into that tab\'s last row')
  const second = appendChart(again.layout, chart(4), 6, 'More')
  t.same(tabTitles(second.layout), ['Details', 'More'], 'a second title: a second tab in the same strip')
  t.same(chartPositions(second.layout).map(p => p.chartId), [1, 2, 3, 4])

  const tabbed: DashboardLayout = {
    ROOT_ID: { type: 'ROOT', id: 'ROOT_ID', children: ['TABS-1'] },
    'TABS-1': { type: 'TABS', id: 'TABS-1', children: ['TAB-a', 'TAB-b'], parents: ['ROOT_ID'] },
    'TAB-a': { type: 'TAB', id: 'TAB-a', children: [], parents: ['ROOT_ID', 'TABS-1'], meta: { text: 'Overview' } },
    'TAB-b': { type: 'TAB', id: 'TAB-b', children: [], parents: ['ROOT_ID', 'TABS-1'], meta: { text: 'Details' } }
  }
  t.same(appendChart(tabbed, chart(5), 6, 'details').position.tabs, ['Details'], 'an imported layout\'s tab, found by title')
  const added = appendChart(tabbed, chart(6), 6, 'Extra')
  t.same(tabTitles(added.layout), ['Overview', 'Details', 'Extra'], 'a new tab joins the existing strip')
  t.equal((added.layout.TAB_1 ?? added.layout['TAB-1']) !== undefined, true, 'with an id of its own')
})
