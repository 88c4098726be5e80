// Kubernetes name rules (k8s.io/apimachinery/pkg/util/validation), as messages a user can act on.

const dns1035Label = /^[a-z]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Label = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;
const dns1123Subdomain = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const qualifiedNamePart = /^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$/;
const labelValue = /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/;
const envVarName = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;

export const maxLabelLength = 63;
export const maxSubdomainLength = 253;

/** Problems with `value` as a DNS-1035 label (a Service name, a tag); empty when valid. */
export function dns1035LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > maxLabelLength) problems.push(`must be no more than ${maxLabelLength} characters`);
  if (!dns1035Label.test(value)) {
    problems.push(
      "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name', or 'abc-123')",
    );
  }
  return problems;
}

/** Problems with `value` as the prefix of a generated DNS-1035 label (`generateName`). */
export function dns1035PrefixProblems(value: string): string[] {
  const trimmed = value.endsWith('-') ? `${value}a` : value;
  return dns1035LabelProblems(trimmed);
}

/** Problems with `value` as a DNS-1123 label (a namespace, a container name). */
export function dns1123LabelProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > maxLabelLength) problems.push(`must be no more than ${maxLabelLength} characters`);
  if (!dns1123Label.test(value)) {
    problems.push(
      "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc')",
    );
  }
  return problems;
}

export function dns1123SubdomainProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > maxSubdomainLength) problems.push(`must be no more than ${maxSubdomainLength} characters`);
  if (!dns1123Subdomain.test(value)) {
    problems.push(
      "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com')",
    );
  }
  return problems;
}

/** Problems with a label or annotation key (`prefix/name` or `name`). */
export function qualifiedNameProblems(value: string): string[] {
  const parts = value.split('/');
  let name = value;
  const problems: string[] = [];
  if (parts.length > 2) {
    return [
      "a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')",
    ];
  }
  if (parts.length === 2) {
    const [prefix = '', rest = ''] = parts;
    name = rest;
    if (prefix.length === 0) problems.push('prefix part must be non-empty');
    else problems.push(...dns1123SubdomainProblems(prefix).map((p) => `prefix part ${p}`));
  }
  if (name.length === 0) problems.push('name part must be non-empty');
  else if (name.length > maxLabelLength) problems.push(`name part must be no more than ${maxLabelLength} characters`);
  if (name.length > 0 && !qualifiedNamePart.test(name)) {
    problems.push(
      "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    );
  }
  return problems;
}

export function labelValueProblems(value: string): string[] {
  const problems: string[] = [];
  if (value.length > maxLabelLength) problems.push(`must be no more than ${maxLabelLength} characters`);
  if (!labelValue.test(value)) {
    problems.push(
      "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character",
    );
  }
  return problems;
}

export function envVarNameProblems(value: string): string[] {
  if (envVarName.test(value)) return [];
  return [
    "a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
  ];
}
