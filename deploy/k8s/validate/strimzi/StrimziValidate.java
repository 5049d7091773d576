import com.fasterxml.jackson.databind.DeserializationFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.strimzi.api.kafka.model.common.UnknownPropertyPreserving;
import java.beans.Introspector;
import java.beans.PropertyDescriptor;
import java.io.File;
import java.util.ArrayList;
import java.util.IdentityHashMap;
import java.util.List;
import java.util.Map;

/**
 * java -cp 'classes:lib/*' StrimziValidate documents.json   (exit 1 on any error)
 *
 * Reads resources (a JSON array) into Strimzi's own API model classes (io.strimzi:api) and
 * fails on a value the model rejects (a wrong type, an unknown enum value or resource type)
 * and on any field the model does not know (Strimzi keeps those aside; we report them).
 */
public class StrimziValidate {
    static final Map<String, String> MODELS = Map.of(
        "Kafka", "io.strimzi.api.kafka.model.kafka.Kafka",
        "KafkaNodePool", "io.strimzi.api.kafka.model.nodepool.KafkaNodePool",
        "KafkaTopic", "io.strimzi.api.kafka.model.topic.KafkaTopic",
        "KafkaUser", "io.strimzi.api.kafka.model.user.KafkaUser");

    public static void main(String[] args) throws Exception {
        ObjectMapper mapper = new ObjectMapper()
            .configure(DeserializationFeature.FAIL_ON_UNKNOWN_PROPERTIES, true)
            .configure(DeserializationFeature.FAIL_ON_NULL_FOR_PRIMITIVES, true)
            .configure(DeserializationFeature.FAIL_ON_INVALID_SUBTYPE, true)
            .configure(DeserializationFeature.READ_UNKNOWN_ENUM_VALUES_AS_NULL, false);
        int failures = 0;
        for (JsonNode doc : mapper.readTree(new File(args[0]))) {
            String kind = doc.path("kind").asText();
            String name = kind + "/" + doc.path("metadata").path("name").asText();
            String model = MODELS.get(kind);
            if (model == null) {
                System.out.println("skipped " + name);
                continue;
            }
            List<String> unknown = new ArrayList<>();
            if (!doc.path("apiVersion").asText().startsWith("kafka.strimzi.io/v1")) {
                unknown.add("apiVersion " + doc.path("apiVersion") + " is not served by Strimzi 0.49");
            }
            try {
                Object resource = mapper.treeToValue(doc, Class.forName(model));
                walk(resource, doc, "", unknown, new IdentityHashMap<>());
            } catch (Exception error) {
                unknown.add(error.getMessage().split("\n")[0]);
            }
            if (unknown.isEmpty()) {
                System.out.println("valid " + name);
            } else {
                failures++;
                System.out.println("INVALID " + name + ": " + String.join("; ", unknown));
            }
        }
        System.exit(failures == 0 ? 0 : 1);
    }

    /**
     * Every Strimzi object below ``value``: fields it kept aside as unknown, and values given
     * in ``given`` that the model read as null (Strimzi reads an unknown enum value as null).
     */
    static void walk(Object value, JsonNode given, String path, List<String> problems,
            Map<Object, Boolean> seen) throws Exception {
        if (value == null || seen.containsKey(value)) {
            return;
        }
        if (value instanceof List<?> items) {
            for (int i = 0; i < items.size(); i++) {
                JsonNode item = given == null ? null : given.get(i);
                if (items.get(i) == null && item != null && !item.isNull()) {
                    problems.add("not accepted: " + path + "[" + i + "] = " + item);
                }
                walk(items.get(i), item, path + "[" + i + "]", problems, seen);
            }
            return;
        }
        if (!value.getClass().getName().startsWith("io.strimzi.")) {
            return;
        }
        seen.put(value, true);
        if (value instanceof UnknownPropertyPreserving preserving
                && preserving.getAdditionalProperties() != null) {
            for (String key : preserving.getAdditionalProperties().keySet()) {
                problems.add("unknown field " + path + "." + key);
            }
        }
        for (PropertyDescriptor property :
                Introspector.getBeanInfo(value.getClass()).getPropertyDescriptors()) {
            if (property.getReadMethod() == null
                    || property.getName().equals("additionalProperties")
                    || property.getName().equals("class")) {
                continue;
            }
            Object child = property.getReadMethod().invoke(value);
            JsonNode givenChild = given == null ? null : given.get(property.getName());
            if (child == null && givenChild != null && !givenChild.isNull()) {
                problems.add("not accepted: " + path + "." + property.getName() + " = " + givenChild);
            }
            walk(child, givenChild, path + "." + property.getName(), problems, seen);
        }
    }
}
