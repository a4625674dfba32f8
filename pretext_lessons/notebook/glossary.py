"""Lesson 0: the words you will meet: the course's glossary, as data.

Each entry is a term, what it is, where it is first used and how a definition of it reads:
`uses` finds the term in a lesson's prose, `defined_by` the words that define it. Lesson 0
prints the glossary (`glossary_markdown`), and a test walks every lesson's markdown in order and
checks that the first use of each term has its definition beside it (`first_use_problems`).
"""
from __future__ import annotations

import re

# term, its definition (one sentence or two, as lesson 0 prints it), what counts as a use of it,
# and what counts as defining it (looked for within WINDOW characters of the first use, same cell)
GLOSSARY = (
    dict(term="pretext task", uses=r"\bpretext tasks?\b",
         defined_by=r"pseudo[- ]labels?|labels? (?:come|comes|made|is made) from|without (?:human )?labels|"
                    r"from the images? (?:itself|themselves)|images? (?:itself|themselves) provides?",
         definition="a task made up so that unlabelled images supply their own labels (the *pseudo labels*), "
                    "for instance \"which way up is this image?\"; a network trained on it is kept for its features."),
    dict(term="pseudo label", uses=r"\bpseudo[- ]labels?\b",
         defined_by=r"pseudo[- ]labels? (?:is|are|comes?|made|\()|made from the|from the images? (?:itself|themselves)|"
                    r"the shuffle \*is\* the label|is the label",
         definition="the label a pretext task makes from the image itself (the rotation applied, the shuffle used, "
                    "the neighbour's position), with no human labelling."),
    dict(term="downstream task", uses=r"\bdownstream\b",
         defined_by=r"task (?:we|you) (?:actually )?care|few labels|labelled images|human labels|true labels|"
                    r"the transfer task|real task",
         definition="the task we actually care about (here: recognising the classes of images), for which only a "
                    "few labelled images are available; a pretext network is judged by how well its features serve it."),
    dict(term="linear probe", uses=r"\bprob(?:e|es|ed|ing)\b",
         defined_by=r"linear classifier",
         definition="a linear classifier fitted on the frozen features of one layer: it can only read out what the "
                    "layer already makes linearly separable, so its accuracy measures the features, not the classifier."),
    dict(term="CV", uses=r"\bCV\b|cross-validat\w*",
         defined_by=r"\(CV\)|cross-validation \(|fits?,? the other half|are split|scored? on|held[- ]out part|"
                    r"folds?\b|validates?\b",
         definition="*cross-validation*: the labelled images are split, a setting is fitted on one part and scored on "
                    "the other (and the roles swapped), so that settings such as C are chosen without the test set."),
    dict(term="C", uses=r"`C`|\*\*C\*\*",
         defined_by=r"regularis|penalt|squared norm|follows? the labelled",
         definition="the linear probe's *cost*: the fit minimises C times the loss on the labelled images plus half "
                    "the squared norm of the weights; a large C follows the labelled images closely, a small C "
                    "regularises more. It is chosen by cross-validation."),
    dict(term="L-BFGS", uses=r"L-BFGS",
         defined_by=r"quasi-Newton|curvature",
         definition="*limited-memory Broyden-Fletcher-Goldfarb-Shanno*, a quasi-Newton optimiser: it steers by an "
                    "estimate of the loss's curvature built from its last few gradients; the course fits its probes with it."),
    dict(term="VOC07", uses=r"\bVOC ?07\b|VOC 2007|PASCAL VOC",
         defined_by=r"20 (?:object )?classes|object-classification|several classes per photo|set of photos",
         definition="the PASCAL VOC 2007 object-classification set: about 5,000 training photos of 20 classes, "
                    "several classes per photo; the benchmark Goyal et al. probed layers on."),
    dict(term="VISSL", uses=r"\bVISSL\b",
         defined_by=r"library|toolkit",
         definition="Facebook AI Research's open-source library for self-supervised learning (PyTorch); its "
                    "configuration files reproduce the layer-wise benchmarks of Goyal et al."),
    dict(term="mmselfsup", uses=r"\bmmselfsup\b",
         defined_by=r"library|toolkit|toolbox|OpenMMLab",
         definition="OpenMMLab's open-source toolbox for self-supervised learning; its model pages publish "
                    "per-stage linear-probe figures for rotation and relative location."),
    dict(term="SVM", uses=r"\bSVMs?\b",
         defined_by=r"support vector machine",
         definition="*support vector machine*: a linear classifier fitted with a hinge loss (a margin); VISSL's "
                    "VOC07 benchmark fits one per class."),
    dict(term="AP", uses=r"\bAP\b|(?<!mean )average precision",
         defined_by=r"precision-recall|area under|ranking|ranked",
         definition="*average precision*: for one class, rank the test images by the classifier's score and "
                    "average the precision at each correctly ranked image: the area under the precision-recall curve."),
    dict(term="mAP", uses=r"\bmAP\b|mean average precision",
         defined_by=r"mean (?:over|of) the (?:20 )?classes|averaged over (?:the )?classes|over the 20 classes|"
                    r"mean over (?:all )?classes",
         definition="*mean average precision*: the average precision of each class, averaged over the classes; "
                    "the score of a task where one image can hold several classes."),
    dict(term="BatchNorm statistics", uses=r"\bBatchNorm\b|\bbatch norm(?:alisation)?\b",
         defined_by=r"mean and (?:the )?variance|running (?:mean|statistics|averages?)",
         definition="a BatchNorm (batch normalisation) layer rescales each channel by a mean and a variance; in "
                    "evaluation it uses running averages of them, its *statistics*, gathered from the images it was "
                    "shown. A random network whose statistics come from the data is the fair random baseline."),
    dict(term="CNN", uses=r"\bCNNs?\b",
         defined_by=r"convolutional",
         definition="*convolutional neural network*: layers of small filters slid over the image; the course's "
                    "`PlainCNN` has no skip connections."),
    dict(term="ResNet", uses=r"\bResNets?\b|\bResNet-50\b",
         defined_by=r"skip connections?|residual",
         definition="*residual network*: a CNN whose blocks add their input to their output (skip connections); "
                    "ResNet-50 has 50 layers, the course's `SmallResNet` a few."),
    dict(term="PCA", uses=r"\bPCA\b",
         defined_by=r"principal component",
         definition="*principal component analysis*: the directions along which a set of feature vectors varies most; "
                    "the first two give a 2-D picture of them."),
    dict(term="t-SNE", uses=r"\bt-SNE\b",
         defined_by=r"stochastic neighbo",
         definition="*t-distributed stochastic neighbour embedding*: a 2-D picture of feature vectors that keeps near "
                    "neighbours near, at the cost of distances between far points."),
    dict(term="SGD", uses=r"\bSGD\b",
         defined_by=r"stochastic gradient",
         definition="*stochastic gradient descent*: the weights step against the loss's gradient on one small batch "
                    "at a time."),
    dict(term="CPU", uses=r"\bCPUs?\b",
         defined_by=r"processor|processing unit",
         definition="*central processing unit*: a computer's main processor; the course's quick preset is sized for "
                    "a laptop's."),
    dict(term="GPU", uses=r"\bGPUs?\b",
         defined_by=r"graphics",
         definition="*graphics processing unit*: a processor built for many small computations at once, which trains "
                    "networks much faster; the full preset wants one."),
    dict(term="epoch", uses=r"\bepochs?\b",
         defined_by=r"pass(?:es)? (?:over|through)",
         definition="one pass over the training images."),
)
WINDOW = 300  # characters between a term's first use and its definition, in the same cell
CODE_SPAN = re.compile(r"```.*?```|`[^`\n]{2,}`", re.S)  # code is not prose (a one-letter span, `C`, stays)
LINK = re.compile(r"\]\([^)]*\)|https?://\S+")


HEADING = re.compile(r"^#+ .*$", re.M)  # a heading names a topic; the prose under it defines


def prose(markdown: str) -> str:
    """A markdown cell's prose: headings, code spans and link targets blanked (positions kept)."""
    blank = lambda m: " " * len(m.group(0))
    return HEADING.sub(blank, LINK.sub(blank, CODE_SPAN.sub(blank, markdown)))


def glossary_markdown() -> str:
    """The "words you will meet" box, as markdown."""
    lines = ["Each is defined again where a lesson first uses it.", ""]
    lines += [f"- **{entry['term']}**: {entry['definition']}" for entry in GLOSSARY]
    return "\n".join(lines)


def first_use_problems(cells: list[str], lesson: str = "lesson") -> list[str]:
    """For markdown cells in reading order, the terms whose first use has no definition beside it."""
    if isinstance(cells, str) or not all(isinstance(c, str) for c in cells):
        raise TypeError(f"cells must be a list of markdown strings, got {type(cells).__name__}")
    problems = []
    texts = [prose(c) for c in cells]
    for entry in GLOSSARY:
        uses, defined = re.compile(entry["uses"]), re.compile(entry["defined_by"])
        for i, text in enumerate(texts):
            use = uses.search(text)
            if use is None:
                continue
            near = text[max(0, use.start() - WINDOW):use.end() + WINDOW]
            if not defined.search(near):
                snippet = " ".join(cells[i][max(0, use.start() - 60):use.end() + 60].split())
                problems.append(f"{lesson}, markdown cell {i}: '{entry['term']}' is first used without its "
                                f"definition within {WINDOW} characters: ...{snippet}...")
            break
    return problems
