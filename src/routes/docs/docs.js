// The API documentation page: reads /api/openapi.json (this origin only)
// and lists every route with its parameters, request body and answers.
// Text from the document is only ever set as text, never as markup.
"use strict";

(function () {
  const METHODS = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];
  const MOST_DEPTH = 8;

  function el(tag, className, ...children) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  // Text with its `code` spans shown as code.
  function rich(tag, className, text) {
    const node = el(tag, className);
    String(text).split("`").forEach((part, index) => {
      node.append(index % 2 === 1 ? el("code", null, part) : document.createTextNode(part));
    });
    return node;
  }

  // Paragraphs of text.
  function prose(text) {
    const box = el("div", "prose");
    for (const paragraph of String(text).split(/\n\s*\n/)) {
      box.append(rich("p", null, paragraph));
    }
    return box;
  }

  function resolve(doc, ref) {
    if (typeof ref !== "string" || !ref.startsWith("#/")) return null;
    let node = doc;
    for (const key of ref.slice(2).split("/")) {
      const name = key.replace(/~1/g, "/").replace(/~0/g, "~");
      if (node === null || typeof node !== "object" || !(name in node)) return null;
      node = node[name];
    }
    return node;
  }

  function refName(ref) {
    return String(ref).split("/").pop();
  }

  // A short name for a schema's type: `string (date-time)`, `array of X`.
  function typeLabel(doc, schema) {
    if (!schema || typeof schema !== "object") return "any";
    if (schema.$ref) {
      const target = resolve(doc, schema.$ref);
      const values = target && Array.isArray(target.enum) ? target.enum : null;
      return refName(schema.$ref) + (values ? " (" + values.map((v) => JSON.stringify(v)).join(" | ") + ")" : "");
    }
    if (schema.const !== undefined) return JSON.stringify(schema.const);
    if (Array.isArray(schema.enum)) return schema.enum.map((v) => JSON.stringify(v)).join(" | ");
    for (const key of ["oneOf", "anyOf"]) {
      if (Array.isArray(schema[key])) {
        return schema[key].map((item) => typeLabel(doc, item)).join(" | ");
      }
    }
    let type = schema.type;
    if (Array.isArray(type)) type = type.join(" | ");
    if (type === "array" || (schema.items && !type)) {
      return "array of " + typeLabel(doc, schema.items);
    }
    if (!type && schema.properties) type = "object";
    if (!type) return "any";
    return schema.format ? type + " (" + schema.format + ")" : type;
  }

  // What to show inside a schema: its object properties, or the item's.
  function inner(doc, schema) {
    if (!schema || typeof schema !== "object") return null;
    if (schema.$ref) return resolve(doc, schema.$ref);
    if (schema.items) return inner(doc, schema.items);
    for (const key of ["oneOf", "anyOf"]) {
      if (Array.isArray(schema[key])) {
        const refs = schema[key].filter((item) => item && item.$ref);
        if (refs.length === 1) return resolve(doc, refs[0].$ref);
      }
    }
    return schema;
  }

  function limits(schema) {
    const parts = [];
    if (schema.minimum !== undefined) parts.push("min " + schema.minimum);
    if (schema.maximum !== undefined) parts.push("max " + schema.maximum);
    if (schema.minLength !== undefined) parts.push("min length " + schema.minLength);
    if (schema.maxLength !== undefined) parts.push("max length " + schema.maxLength);
    return parts.length ? " [" + parts.join(", ") + "]" : "";
  }

  // A schema as a nested list of its fields; `seen` stops at a schema
  // already being shown above (recursion).
  function schemaView(doc, schema, depth, seen) {
    const target = inner(doc, schema);
    if (!target || depth > MOST_DEPTH) return null;
    const list = el("ul", "schema");
    const alternatives = target.oneOf || target.anyOf;
    if (Array.isArray(alternatives) && !target.properties) {
      for (const item of alternatives) {
        const li = el("li", null, "one of: ", el("span", "type", typeLabel(doc, item)));
        const name = item && item.$ref;
        if (name && !seen.has(name)) {
          const view = schemaView(doc, item, depth + 1, new Set([...seen, name]));
          if (view) li.append(view);
        }
        list.append(li);
      }
      if (target.description) list.prepend(rich("li", "description", target.description));
      return list;
    }
    const properties = target.properties || {};
    const required = new Set(target.required || []);
    for (const [name, property] of Object.entries(properties)) {
      const li = el(
        "li",
        null,
        el("span", "name", name),
        required.has(name) ? el("span", "required", "required") : null,
        ": ",
        el("span", "type", typeLabel(doc, property)),
        limits(property || {}),
      );
      const description = (property && property.description) || "";
      if (description) li.append(" — ", rich("span", "description", description));
      const ref = property && (property.$ref || (property.items && property.items.$ref) ||
        ((property.oneOf || property.anyOf || []).find((item) => item && item.$ref) || {}).$ref);
      const nested = ref ? (seen.has(ref) ? null : schemaView(doc, property, depth + 1, new Set([...seen, ref])))
        : (property && (property.properties || (property.items && property.items.properties)))
          ? schemaView(doc, property, depth + 1, seen) : null;
      if (nested) {
        const details = el("details", null, el("summary", null, "fields of " + typeLabel(doc, property)), nested);
        details.open = depth < 1;
        li.append(details);
      }
      list.append(li);
    }
    const extra = target.additionalProperties;
    if (extra && typeof extra === "object") {
      list.append(el("li", null, el("span", "name", "{any name}"), ": ", el("span", "type", typeLabel(doc, extra))));
    } else if (extra === true && Object.keys(properties).length) {
      list.append(el("li", "description", "Other fields are allowed and kept as sent."));
    }
    if (!list.children.length) return null;
    return list;
  }

  function schemaBlock(doc, schema) {
    const box = el("div", null, el("span", "type", typeLabel(doc, schema)));
    const target = inner(doc, schema);
    if (target && target.description && schema.$ref) box.append(" — ", rich("span", "description", target.description));
    const name = schema && schema.$ref;
    const view = schemaView(doc, schema, 0, new Set(name ? [name] : []));
    if (view) box.append(view);
    return box;
  }

  function content(doc, media) {
    const box = el("div");
    for (const [type, entry] of Object.entries(media || {})) {
      const part = el("div", null, el("code", null, type));
      if (entry && entry.schema) part.append(schemaBlock(doc, entry.schema));
      box.append(part);
    }
    return box;
  }

  function parameters(doc, list) {
    const table = el("table", null, el("tr", null, el("th", null, "name"), el("th", null, "in"), el("th", null, "type"), el("th", null, "")));
    for (const raw of list) {
      const parameter = raw.$ref ? resolve(doc, raw.$ref) || {} : raw;
      table.append(el(
        "tr",
        null,
        el("td", null, el("span", "name", parameter.name || ""), parameter.required ? el("span", "required", "required") : null),
        el("td", null, parameter.in || ""),
        el("td", "type", typeLabel(doc, parameter.schema) + limits(parameter.schema || {})),
        rich("td", "description", parameter.description || (parameter.schema && parameter.schema.description) || ""),
      ));
    }
    return table;
  }

  function security(doc, requirements) {
    if (!Array.isArray(requirements) || !requirements.length) return null;
    const optional = requirements.some((requirement) => Object.keys(requirement).length === 0);
    const names = requirements.flatMap((requirement) => Object.keys(requirement));
    const schemes = (doc.components && doc.components.securitySchemes) || {};
    const text = names.map((name) => {
      const scheme = schemes[name] || {};
      return "Authorization: Bearer (" + name + (scheme.description ? ": " + scheme.description : "") + ")";
    }).join("; ");
    return el("p", "security", optional ? "Optional — " : "Requires ", text);
  }

  function responses(doc, answers) {
    const table = el("table", null, el("tr", null, el("th", null, "status"), el("th", null, "answer")));
    for (const [status, raw] of Object.entries(answers || {})) {
      const answer = raw.$ref ? resolve(doc, raw.$ref) || {} : raw;
      const cell = el("td", null, answer.description ? prose(answer.description) : null);
      const headers = Object.keys(answer.headers || {});
      if (headers.length) cell.append(el("div", "muted", "headers: ", ...headers.map((h) => el("code", null, h + " "))));
      if (answer.content) cell.append(content(doc, answer.content));
      table.append(el("tr", null, el("td", "status", status), cell));
    }
    return table;
  }

  function routeId(method, path) {
    return (method + path).replace(/[^A-Za-z0-9]+/g, "-");
  }

  function render(doc) {
    const info = doc.info || {};
    document.getElementById("title").textContent = (info.title || "API") + " " + (info.version || "");
    document.title = (info.title || "API") + " API";
    const status = document.getElementById("status");
    status.textContent = "OpenAPI " + (doc.openapi || "?") + " — ";
    const link = el("a", null, "the document as JSON");
    link.href = "/api/openapi.json";
    status.append(link);
    if (info.description) document.getElementById("about").append(prose(info.description));

    const byTag = new Map();
    for (const [path, item] of Object.entries(doc.paths || {})) {
      for (const method of METHODS) {
        const operation = item[method];
        if (!operation) continue;
        const tag = (operation.tags && operation.tags[0]) || "routes";
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ method, path, operation });
      }
    }
    const tagDescriptions = new Map((doc.tags || []).map((tag) => [tag.name, tag.description]));
    const contents = el("ul");
    const main = document.getElementById("routes");
    for (const [tag, routes] of byTag) {
      main.append(el("h2", null, tag), tagDescriptions.get(tag) ? el("p", "muted", tagDescriptions.get(tag)) : null);
      for (const { method, path, operation } of routes) {
        const id = routeId(method, path);
        const anchor = el("a", null, method.toUpperCase() + " " + path);
        anchor.href = "#" + id;
        contents.append(el("li", null, anchor, operation.summary ? el("span", "muted", " — " + operation.summary) : null));
        const section = el("section", "route");
        section.id = id;
        section.append(el(
          "h3",
          null,
          el("span", "method " + method, method.toUpperCase()),
          el("span", "path", path),
          operation.summary ? el("span", "summary", operation.summary) : null,
        ));
        if (operation.description) section.append(prose(operation.description));
        const sec = security(doc, operation.security);
        if (sec) section.append(sec);
        if (Array.isArray(operation.parameters) && operation.parameters.length) {
          section.append(el("h4", null, "Parameters"), parameters(doc, operation.parameters));
        }
        if (operation.requestBody) {
          const body = operation.requestBody.$ref ? resolve(doc, operation.requestBody.$ref) || {} : operation.requestBody;
          section.append(el("h4", null, "Request body" + (body.required ? " (required)" : "")));
          if (body.description) section.append(prose(body.description));
          section.append(content(doc, body.content));
        }
        section.append(el("h4", null, "Answers"), responses(doc, operation.responses));
        main.append(section);
      }
    }
    document.getElementById("contents").append(contents);
  }

  fetch("/api/openapi.json", { headers: { Accept: "application/json" } })
    .then((response) => {
      if (!response.ok) throw new Error("GET /api/openapi.json answered " + response.status);
      return response.json();
    })
    .then(render)
    .catch((error) => {
      document.getElementById("status").textContent = "Could not read the API description: " + error.message;
    });
})();
