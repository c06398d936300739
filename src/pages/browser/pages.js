/*
 * The service's pages: every element with data-spec names the <script type="application/json">
 * that holds its Vega-Lite spec; draw each one. The font is loaded first so Vega measures
 * labels with the font it draws them in.
 */
(function () {
  'use strict'

  function specOf (container) {
    const element = document.getElementById(container.dataset.spec)
    if (element === null) throw new Error('the chart data is missing from the page')
    return JSON.parse(element.textContent)
  }

  async function drawAll () {
    try {
      await document.fonts.load('10px "DejaVu Sans"')
    } catch {
      // Draw with the fallback font rather than not at all.
    }
    const containers = document.querySelectorAll('[data-spec]')
    await Promise.all(Array.from(containers, async container => {
      let spec
      try {
        spec = specOf(container)
      } catch (err) {
        container.dataset.error = err.message
        container.textContent = 'The chart could not be drawn: ' + err.message
        return
      }
      await window.drawChart(container, spec)
    }))
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', drawAll)
  } else {
    drawAll()
  }
})()
