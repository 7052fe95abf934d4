// Starts Swagger UI on /docs from a file, so that the page's policy runs no inline script.
// The validator stays off: its badge would send the API description's address elsewhere.
window.addEventListener("load", function () {
  var container = document.getElementById("swagger-ui-container");
  var config = {
    url: container.dataset.specUrl,
    dom_id: "#swagger-ui-container",
    validatorUrl: null,
  };
  Object.assign(config, JSON.parse(container.dataset.config));
  window.ui = SwaggerUIBundle(config);
});
