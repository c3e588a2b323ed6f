"""A local Hugging Face ``evaluate`` metric for offline tests: macro-averaged recall (balanced accuracy)."""

import datasets
import evaluate


class MacroRecall(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description="Mean over classes of the recall of that class.",
            citation="",
            inputs_description="predictions and references: lists of integer class labels",
            features=datasets.Features({"predictions": datasets.Value("int64"), "references": datasets.Value("int64")}),
        )

    def _compute(self, predictions, references):
        recalls = []
        for c in sorted(set(references)):
            idx = [i for i, r in enumerate(references) if r == c]
            recalls.append(sum(predictions[i] == c for i in idx) / len(idx))
        return {"macro_recall": sum(recalls) / len(recalls)}
