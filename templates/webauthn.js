// The portal's passkey ceremonies (WebAuthn). A button with data-webauthn="create" or "get"
// carries the server's options (JSON, binary values in base64url) in data-options; a click
// asks the browser's authenticator, puts its answer (JSON, base64url again) into the form's
// field marked data-webauthn-answer and submits the form. The server checks everything.
"use strict";

(function () {
  function bytes(text) {
    const base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    const padded = base64 + "===".slice((base64.length + 3) % 4);
    return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  }

  function text(buffer) {
    let binary = "";
    for (const byte of new Uint8Array(buffer)) {
      binary += String.fromCharCode(byte);
    }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function creationOptions(options) {
    const publicKey = options.publicKey;
    publicKey.challenge = bytes(publicKey.challenge);
    publicKey.user.id = bytes(publicKey.user.id);
    for (const credential of publicKey.excludeCredentials || []) {
      credential.id = bytes(credential.id);
    }
    return { publicKey };
  }

  function requestOptions(options) {
    const publicKey = options.publicKey;
    publicKey.challenge = bytes(publicKey.challenge);
    for (const credential of publicKey.allowCredentials || []) {
      credential.id = bytes(credential.id);
    }
    return { publicKey };
  }

  function registration(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults(),
      response: {
        attestationObject: text(response.attestationObject),
        clientDataJSON: text(response.clientDataJSON),
        transports: response.getTransports ? response.getTransports() : undefined,
      },
    };
  }

  function assertion(credential) {
    const response = credential.response;
    return {
      id: credential.id,
      rawId: text(credential.rawId),
      type: credential.type,
      extensions: credential.getClientExtensionResults(),
      response: {
        authenticatorData: text(response.authenticatorData),
        clientDataJSON: text(response.clientDataJSON),
        signature: text(response.signature),
        userHandle: response.userHandle ? text(response.userHandle) : null,
      },
    };
  }

  async function ceremony(button) {
    const form = button.closest("form");
    const status = form.querySelector("[data-webauthn-status]");
    const options = JSON.parse(button.dataset.options);
    try {
      if (!window.PublicKeyCredential) {
        throw new Error("this browser has no passkey support");
      }
      const answer =
        button.dataset.webauthn === "create"
          ? registration(await navigator.credentials.create(creationOptions(options)))
          : assertion(await navigator.credentials.get(requestOptions(options)));
      form.querySelector("[data-webauthn-answer]").value = JSON.stringify(answer);
      form.submit();
    } catch (error) {
      if (status) {
        status.textContent = "The passkey did not answer (" + error.message + "). Try again, or reload the page.";
      }
    }
  }

  for (const button of document.querySelectorAll("[data-webauthn]")) {
    button.addEventListener("click", () => ceremony(button));
  }
})();
