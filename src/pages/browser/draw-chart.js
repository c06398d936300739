/*
 * drawChart(container, spec): draws a Vega-Lite spec into a container with vega-embed, as the
 * service's pages and the MCP App chart viewer both do. Both run under a CSP without
 * 'unsafe-eval' or inline styles, hence: expressions through vega-interpreter (Vega's default
 * compiler uses new Function), no injected <style> from vega-embed or vega-tooltip (the
 * stylesheet carries their styles), and SVG output. On success the container gets
 * data-rendered="true"; on failure data-error holds the message, which is shown in its place.
 */
(function () {
  'use strict'

  const EMBED_OPTIONS = {
    ast: true,
    defaultStyle: false,
    actions: false,
    renderer: 'svg',
    tooltip: { disableDefaultStyle: true }
  }

  async function drawChart (container, spec) {
    delete container.dataset.rendered
    delete container.dataset.error
    container.classList.remove('chart-failed')
    try {
      await window.vegaEmbed(container, spec, { ...EMBED_OPTIONS, expr: window.vegaInterpreter.expressionInterpreter })
      container.dataset.rendered = 'true'
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      container.dataset.error = message
      container.classList.add('chart-failed')
      container.textContent = 'The chart could not be drawn: ' + message
    }
  }

  window.drawChart = drawChart
})()
