// Swagger UI over this server's OpenAPI document. "Authorize" takes an AppId and AppSecret as
// the OAuth2 client id and secret and sends them as Basic credentials to /auth/oauth2/token.
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  deepLinking: true,
  persistAuthorization: false,
  tryItOutEnabled: false,
});
