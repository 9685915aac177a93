import pytest

from organizations.models import Organization


def make_chain(depth):
    """Create a chain of DEPTH organizations; return them from the root down."""
    chain = []
    parent = None
    for level in range(depth):
        parent = Organization.objects.create(name=f"Level {level}", slug=f"level-{level}",
                                             parent=parent)
        chain.append(parent)
    return chain


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1, 5, 20])
def test_subtree_is_one_query(depth, django_assert_num_queries):
    """Guards against walking the tree level by level: one query at any depth."""
    chain = make_chain(depth)
    Organization.objects.create(name="Elsewhere", slug="elsewhere")

    with django_assert_num_queries(1):
        below_root = list(Organization.objects.subtree(chain[0]))

    assert [org.pk for org in below_root] == [org.pk for org in chain]


@pytest.mark.django_db
@pytest.mark.parametrize("depth", [1, 5, 20])
def test_ancestry_is_one_query(depth, django_assert_num_queries):
    chain = make_chain(depth)
    leaf = chain[-1]

    with django_assert_num_queries(1):
        above_leaf = list(Organization.objects.ancestry(leaf))

    assert [org.pk for org in above_leaf] == [org.pk for org in chain]
    assert leaf.depth == depth - 1


@pytest.mark.django_db
def test_moving_organization_moves_descendants(acme, acme_eng, acme_eng_lab, globex):
    acme_eng.parent = globex
    acme_eng.save()

    acme_eng_lab.refresh_from_db()
    assert acme_eng_lab.path == f"/{globex.pk}/{acme_eng.pk}/{acme_eng_lab.pk}/"
    assert acme_eng_lab.depth == 2
    assert list(Organization.objects.subtree(acme)) == [acme]
    assert list(Organization.objects.subtree(globex)) == [globex, acme_eng, acme_eng_lab]


@pytest.mark.django_db
def test_parent_below_itself_is_invalid(acme, acme_eng_lab):
    from django.core.exceptions import ValidationError

    acme.parent = acme_eng_lab
    with pytest.raises(ValidationError) as caught:
        acme.full_clean()

    assert "parent" in caught.value.message_dict


@pytest.mark.django_db
def test_administered_by_covers_subtree(org_admin, acme, acme_eng, acme_eng_lab, globex):
    administered = set(Organization.objects.administered_by(org_admin))

    assert administered == {acme, acme_eng, acme_eng_lab}
