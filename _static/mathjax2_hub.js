// The ipywidgets HTML manager (@jupyter-widgets/html-manager 1.x) typesets widget labels with
// MathJax 2's API, MathJax.Hub.Queue(["Typeset", MathJax.Hub, element]), whenever
// window.MathJax exists. The book loads MathJax 3, which has no Hub: every widget page then
// throws "Cannot read properties of undefined (reading 'Queue')". This gives each value
// window.MathJax takes (the configuration object, then MathJax 3 itself) a Hub whose Queue
// typesets the element with MathJax 3.
(function () {
  "use strict";
  var hub = {
    Queue: function (job) {
      var mj = window.MathJax;
      var element = job && job[2];
      if (mj && typeof mj.typesetPromise === "function") {
        mj.typesetPromise(element ? [element] : undefined).catch(function () {});
      }
    }
  };
  function withHub(value) {
    if (value && typeof value === "object" && !value.Hub) {
      try { value.Hub = hub; } catch (e) { /* a frozen object: leave it */ }
    }
    return value;
  }
  var current = withHub(window.MathJax);
  Object.defineProperty(window, "MathJax", {
    configurable: true,
    enumerable: true,
    get: function () { return current; },
    set: function (value) { current = withHub(value); }
  });
})();
