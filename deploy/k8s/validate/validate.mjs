// Validates the custom resources kubeconform has no schema for, with the schemas the
// @kubernetes-models packages compile from the KEDA and prometheus-operator CRDs.
//   node validate.mjs documents.json   (a JSON array of resources; exit 1 on any error)
// Kinds it does not know are listed on stdout as "skipped", for the caller to judge.
import { readFileSync } from "node:fs";
import * as keda from "@kubernetes-models/keda/keda.sh/v1alpha1";
import * as monitoring from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const models = {
  "keda.sh/v1alpha1": keda,
  "monitoring.coreos.com/v1": monitoring,
};
const documents = JSON.parse(readFileSync(process.argv[2], "utf8"));
let failures = 0;
for (const doc of documents) {
  const name = `${doc.kind}/${doc.metadata?.name}`;
  const Model = models[doc.apiVersion]?.[doc.kind];
  if (!Model) {
    console.log(`skipped ${doc.apiVersion} ${name}`);
    continue;
  }
  try {
    new Model(doc).validate();
    console.log(`valid ${doc.apiVersion} ${name}`);
  } catch (error) {
    failures += 1;
    console.log(`INVALID ${doc.apiVersion} ${name}: ${error.message}`);
  }
}
process.exit(failures ? 1 : 0);
